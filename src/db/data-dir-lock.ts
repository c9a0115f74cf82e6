import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Embedded PostgreSQL (PGlite) serves the one process that opened its directory: a second process on the
// same files runs its own engine on a copy of the state, and whatever it writes is lost or corrupts the
// first one's. So the directory is locked by a file naming its holder, which a later start checks. A
// holder that died without removing it (SIGKILL, a crash) is recognised: its pid no longer runs, or runs a
// process that started at another time (pid reuse), or is our own pid (a container restarted: the old
// process was pid 1 as well).

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
}

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
    return { pid: h.pid as number, started: typeof h.started === 'string' ? h.started : null };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    return null; // not a lock this code wrote: no holder can be named, so none holds it
  }
}

function holds(h: Holder): boolean {
  if (h.pid === process.pid || !runs(h.pid)) return false;
  const now = startTimeOf(h.pid);
  return h.started === null || now === null || now === h.started;
}

/**
 * Takes `dir` for this process; throws DataDirInUseError while another live process holds it. Returns the
 * release, which removes the lock file (only while it is still this process's).
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, LOCK_FILE);
  const me: Holder = { pid: process.pid, started: startTimeOf(process.pid) };
  // Written aside and linked into place, so the lock file never exists without its holder in it.
  const aside = join(dir, `${LOCK_FILE}.${process.pid}`);
  writeFileSync(aside, `${JSON.stringify(me)}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err;
      }
      let holder: Holder | null;
      try {
        holder = readHolder(file);
      } catch {
        continue; // removed meanwhile: try again
      }
      if (holder && holds(holder)) throw new DataDirInUseError(dir, holder.pid);
      try {
        unlinkSync(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  } finally {
    unlinkSync(aside);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    try {
      if (readHolder(file)?.pid === me.pid) unlinkSync(file);
    } catch {
      // already gone
    }
  };
}
