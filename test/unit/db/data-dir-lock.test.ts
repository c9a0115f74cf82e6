import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/client.js';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../../src/db/data-dir-lock.js';

// One process per embedded-database directory: a second one would run its own engine on the same files.

let dir: string;
let children: ChildProcess[] = [];

/** A process that runs until the test ends, and when it started (Linux /proc; null elsewhere). */
async function liveProcess(): Promise<{ pid: number; started: string | null }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r) => child.once('spawn', r));
  let started: string | null = null;
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    // no /proc: the lock then judges by the pid alone
  }
  return { pid: child.pid as number, started };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid as number;
}

const lockFile = () => join(dir, LOCK_FILE);
const writeLock = (holder: unknown) => writeFileSync(lockFile(), JSON.stringify(holder));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kefu-lock-'));
});
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children = [];
  rmSync(dir, { recursive: true, force: true });
});

describe('lockDataDir', () => {
  it('names this process in the lock file, and removes it on release', () => {
    const release = lockDataDir(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
    release();
    expect(existsSync(lockFile())).toBe(false);
    release();
    lockDataDir(dir)();
  });

  it('refuses while another process that runs holds it, naming the process', async () => {
    const other = await liveProcess();
    writeLock(other);
    let err: unknown;
    try {
      lockDataDir(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataDirInUseError);
    expect((err as Error).message).toContain(`in use by process ${other.pid}`);
    expect((err as Error).message).toContain('DATABASE_URL');
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toEqual(other);
  });

  it('takes over the lock of a process that died without releasing it (SIGKILL, a crash)', async () => {
    writeLock({ pid: await deadPid(), started: '1' });
    lockDataDir(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('takes over a lock naming our own pid (a restarted container: the old process had it too)', () => {
    writeLock({ pid: process.pid, started: 'long ago' });
    lockDataDir(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it.runIf(existsSync('/proc/self/stat'))(
    'takes over when the pid now belongs to a process that started at another time (pid reuse)',
    async () => {
      const other = await liveProcess();
      writeLock({ pid: other.pid, started: `${other.started}0` });
      lockDataDir(dir);
      expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
    },
  );

  it('refuses a second hold of the same directory in this process', () => {
    const release = lockDataDir(dir);
    expect(() => lockDataDir(join(dir, '.'))).toThrow(DataDirInUseError);
    release();
    lockDataDir(dir)();
  });

  it.runIf(existsSync('/proc/sys/kernel/random/boot_id'))(
    'takes over a lock written before the machine last booted, whatever runs under its pid now',
    async () => {
      const other = await liveProcess();
      writeLock({ ...other, boot: '00000000-0000-0000-0000-000000000000' });
      lockDataDir(dir);
      expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
    },
  );

  it('lets exactly one of several processes starting at once take over a dead holder', async () => {
    const entry = join(import.meta.dirname, '..', '..', '..', 'src', 'db', 'data-dir-lock.ts');
    // every child loads the module, then waits for the same instant, so that their judgements overlap
    const code = `const { lockDataDir } = await import(${JSON.stringify(entry)});
      while (Date.now() < Number(process.argv[2])) {}
      try { lockDataDir(process.argv[1]); console.log('OK'); } catch (e) { console.log(e.name); }
      setTimeout(() => {}, 1000);`;
    for (let round = 0; round < 3; round++) {
      writeLock({ pid: await deadPid(), started: '1', boot: null });
      const at = String(Date.now() + 3000);
      const results = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', '--input-type=module', '-e', code, dir, at],
            {
              stdio: ['ignore', 'pipe', 'inherit'],
            },
          );
          let out = '';
          child.stdout.on('data', (b: Buffer) => {
            out += b.toString();
          });
          await new Promise((r) => child.once('exit', r));
          return out.trim();
        }),
      );
      expect(results.sort()).toEqual(['DataDirInUseError', 'DataDirInUseError', 'DataDirInUseError', 'OK']);
    }
  }, 60_000);

  it('takes over a lock file it cannot read, and leaves a lock another took after it alone', async () => {
    writeFileSync(lockFile(), 'not json');
    const release = lockDataDir(dir);
    const other = await liveProcess();
    writeLock(other);
    release();
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toEqual(other);
  });
});

describe('openDatabase on PGlite', () => {
  it('refuses a directory another process holds, before opening anything there', async () => {
    const other = await liveProcess();
    writeLock(other);
    await expect(openDatabase({ url: undefined, dataDir: dir })).rejects.toBeInstanceOf(DataDirInUseError);
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(false);
  });

  it('holds the directory while open and gives it up on close', async () => {
    const db = await openDatabase({ url: undefined, dataDir: dir });
    try {
      expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
      expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    } finally {
      await db.close();
    }
    expect(existsSync(lockFile())).toBe(false);
  }, 60_000);
});
