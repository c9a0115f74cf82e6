import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface SpawnedService {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** resolves with the exit code */
  exited: Promise<number | null>;
  /** resolves when a JSON log line matching `msg` appears, with that line parsed */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/**
 * Runs a TypeScript entry point of this repo as `npm start` does (`node --import tsx`), as ONE process, so a
 * signal, SIGKILL included, reaches the service itself and nothing is left running.
 */
export function spawnEntry(entry: string, env: Record<string, string>, args: string[] = []): SpawnedService {
  return spawnCommand(process.execPath, ['--import', 'tsx', join(ROOT, entry), ...args], env);
}

/** `npm run <script>` itself, as users and process managers start it (signals then go to npm). */
export function spawnNpmScript(script: string, env: Record<string, string>): SpawnedService {
  return spawnCommand('npm', ['run', '--silent', script], env);
}

function spawnCommand(command: string, args: string[], env: Record<string, string>): SpawnedService {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      stdout.push(line);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        for (const w of waiters.filter((x) => x.msg === parsed.msg)) w.resolve(parsed);
      } catch {
        // not a log line
      }
      nl = buffer.indexOf('\n');
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout,
    stderr,
    exited,
    waitForLog: (msg, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const seen = stdout.map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return null;
          }
        });
        const hit = seen.find((l) => l?.msg === msg);
        if (hit) return resolve(hit);
        const timer = setTimeout(
          () => reject(new Error(`no "${msg}" log within ${timeoutMs} ms; stderr: ${stderr.join('')}`)),
          timeoutMs,
        );
        waiters.push({
          msg,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) =>
          reject(
            new Error(
              `exited ${code} before "${msg}"; stderr: ${stderr.join('')} stdout: ${stdout.join('\n')}`,
            ),
          ),
        );
      }),
  };
}
