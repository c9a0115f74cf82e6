import { linkSync, mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// Embedded PostgreSQL (PGlite) serves the one process that opened its directory: a second process on the
// same files runs its own engine on a copy of the state, and whatever it writes is lost or corrupts the
// first one's. So the directory is locked by a file naming its holder, which a later start checks. A
// holder that died without removing it (SIGKILL, a crash) is recognised: its pid no longer runs, or runs a
// process that started at another time (pid reuse), or is our own pid (a container restarted: the old
// process was pid 1 as well), or was written before the machine last booted. What it cannot see is a holder in
// another pid namespace or on another host sharing the directory (two containers on one volume): the README
// says to give each its own DATA_DIR, or PostgreSQL.

export const LOCK_FILE = 'kefu-relay.lock';

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded database in ${dir} is in use by process ${pid}: one process per DATA_DIR ` +
        '(stop it first; to run several processes on one database, give them a PostgreSQL DATABASE_URL). ' +
        `If no such process runs, delete ${join(dir, LOCK_FILE)}`,
    );
  }
}

interface Holder {
  pid: number;
  /** the process's start time in clock ticks after boot (Linux /proc), null elsewhere */
  started: string | null;
  /** the kernel's id of the current boot (Linux), null elsewhere */
  boot: string | null;
}

/** Exact, where there is one: a boot time derived from the uptime would move with clock corrections. */
function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}
/** directories this process holds: a second open here is refused like another process's */
const heldHere = new Set<string>();

/** Field 22 of /proc/<pid>/stat: when the process started. null where there is no /proc, or no such process. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count from after it
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function runs(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    if (!Number.isSafeInteger(h.pid) || (h.pid as number) <= 0) return null;
    return {
      pid: h.pid as number,
      started: typeof h.started === 'string' ? h.started : null,
      boot: typeof h.boot === 'string' ? h.boot : null,
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    return null; // not a lock this code wrote: no holder can be named, so none holds it
  }
}

function holds(h: Holder): boolean {
  // written before the last boot: its pid, if it runs, is another process now
  const boot = bootId();
  if (h.boot !== null && boot !== null && h.boot !== boot) return false;
  if (h.pid === process.pid || !runs(h.pid)) return false;
  const now = startTimeOf(h.pid);
  return h.started === null || now === null || now === h.started;
}

/**
 * Takes `dir` for this process; throws DataDirInUseError while another live process holds it. Returns the
 * release, which removes the lock file (only while it is still this process's).
 */
export function lockDataDir(dir: string): () => void {
  const where = resolve(dir);
  if (heldHere.has(where)) throw new DataDirInUseError(dir, process.pid);
  const file = join(dir, LOCK_FILE);
  const me: Holder = { pid: process.pid, started: startTimeOf(process.pid), boot: bootId() };
  // Written aside and linked into place, so the lock file never exists without its holder in it.
  const aside = join(dir, `${LOCK_FILE}.${process.pid}`);
  try {
    writeFileSync(aside, `${JSON.stringify(me)}\n`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
      throw new Error(
        `the data directory ${dir} is not writable (${code}): DATA_DIR must be a directory this process may write`,
      );
    }
    throw err;
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 300) throw err;
      }
      takeOverIfStale(dir, file);
    }
  } finally {
    unlinkSync(aside);
  }
  heldHere.add(where);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    heldHere.delete(where);
    try {
      if (readHolder(file)?.pid === me.pid) unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

/**
 * Removes the lock file when its holder is gone; throws DataDirInUseError when it is alive. Two processes
 * starting at once must not both judge the same dead holder and remove each other's fresh lock: the judging and
 * the removal happen under a guard directory that only one of them can create (one left behind by a process
 * that died in between is cleared after 10 s).
 */
function takeOverIfStale(dir: string, file: string): void {
  const guard = join(dir, `${LOCK_FILE}.takeover`);
  try {
    mkdirSync(guard);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - statSync(guard).mtimeMs > 10_000) rmdirSync(guard);
    } catch {
      // removed meanwhile
    }
    // another start is judging the lock: wait a moment, then try the link again
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    return;
  }
  try {
    let holder: Holder | null;
    try {
      holder = readHolder(file);
    } catch {
      return; // removed meanwhile: try the link again
    }
    if (holder && holds(holder)) throw new DataDirInUseError(dir, holder.pid);
    try {
      unlinkSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  } finally {
    rmdirSync(guard);
  }
}
