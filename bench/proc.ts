import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');

/** Memory of one OS process, in bytes, read from /proc (Linux only). */
export interface MemorySample {
  rss: number;
  hwm: number;
}

function readStatus(pid: number): MemorySample | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process is gone
  }
  return out;
}

/** The pid and all its descendants (a server started through a wrapper still counts as itself). */
function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...childrenOf(all[i] as number));
  return all;
}

/** A free TCP port on loopback (closed again at once; the child binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  name: string;
  /** the server process's pid */
  pid: number;
  logFile: string;
  /** peak VmHWM (the kernel's high-water mark) of the process that runs the script, in bytes */
  peakRss(): number;
  /** peak of the VmRSS samples taken every 250 ms */
  peakSampledRss(): number;
  /** VmRSS of the script's process now */
  currentRss(): number;
  /** VmRSS once it was ready (set by whoever waits for readiness), to tell the baseline from growth under load */
  readyRss: number;
  /** resolves with the first stdout line containing `text` (JSON log lines are searched as text) */
  waitFor(text: string, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit code */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

const live = new Set<Child>();
const started: Child[] = [];

// Last resort when the orchestrator dies without its cleanup: no server of this run outlives it.
process.on('exit', () => {
  for (const c of live) {
    for (const p of processTree(c.pid).reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

/** Every child started in this run, running or not (for the peak-RSS report). */
export function allChildren(): Child[] {
  return [...started];
}

/** Every child still running; the orchestrator stops them on failure or SIGINT. */
export function liveChildren(): Child[] {
  return [...live];
}

/**
 * Starts `node [--import tsx] <entry>` as its own process with stdout/stderr in a log file (a pipe would make the load
 * generator's thread read every access-log line). Its memory is sampled every 250 ms, the high-water mark
 * from the kernel, so the peak between samples is not missed.
 */
export function startChild(
  name: string,
  entry: string,
  env: Record<string, string>,
  logDir: string,
  /** node flags (e.g. --cpu-prof) */
  nodeArgs: string[] = [],
  /** the source tree to run `entry` from (a snapshot of a commit, or this checkout) */
  root: string = ROOT,
): Child {
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  // One node process, so signals and RSS are its own: a TypeScript entry through tsx's loader (as `npm start`
  // runs the service), a JavaScript one as it is.
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const proc: ChildProcess = spawn(process.execPath, [...nodeArgs, ...loader, join(root, entry)], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const pid = proc.pid!;
  let scriptHwm = 0;
  let sampled = 0;
  const sample = () => {
    for (const p of processTree(pid)) {
      const m = readStatus(p);
      if (!m) continue;
      scriptHwm = Math.max(scriptHwm, m.hwm);
      sampled = Math.max(sampled, m.rss);
    }
  };
  const timer = setInterval(sample, 250);
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      clearInterval(timer);
      live.delete(child);
      resolve(code);
    }),
  );
  const child: Child = {
    name,
    pid,
    logFile,
    exited,
    peakRss: () => scriptHwm,
    peakSampledRss: () => sampled,
    currentRss: () => Math.max(0, ...processTree(pid).map((p) => readStatus(p)?.rss ?? 0)),
    readyRss: 0,
    waitFor: (text, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        let done = false;
        const started = Date.now();
        const poll = () => {
          if (done) return;
          const line = readFileSync(logFile, 'utf8')
            .split('\n')
            .find((l) => l.includes(text));
          if (line) {
            done = true;
            return resolve(line);
          }
          if (Date.now() - started > timeoutMs) {
            done = true;
            return reject(new Error(`${name}: no "${text}" within ${timeoutMs} ms; see ${logFile}`));
          }
          setTimeout(poll, 50);
        };
        void exited.then((code) => {
          if (done) return;
          done = true;
          reject(new Error(`${name} exited (${code}) before "${text}"; see ${logFile}`));
        });
        poll();
      }),
    stop: async (graceMs = 15_000) => {
      sample();
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const kill = setTimeout(() => {
        for (const p of processTree(pid).reverse()) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }, graceMs);
      const code = await exited;
      clearTimeout(kill);
      return code;
    },
  };
  live.add(child);
  started.push(child);
  return child;
}
