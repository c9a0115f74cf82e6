import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { type SpawnedService, spawnEntry } from './process.js';

export interface RunningSandbox {
  proc: SpawnedService;
  ports: { api: number; sim: number; bot: number };
  dataDir: string;
  output: string;
  apiKey: string;
  link: string;
  chatUrl: string;
  /** the copy-paste lines it printed, in order */
  curlLines: string[];
  stop(): Promise<number | null>;
}

/**
 * Runs `npm run sandbox` (its entry point) as a new user would, on a fresh data directory (or `opts.dataDir`, a
 * restart), until it is ready. `stop()` removes the data directory unless `opts.keepData`.
 */
export async function startSandbox(
  args: string[] = [],
  opts: { dataDir?: string; keepData?: boolean } = {},
): Promise<RunningSandbox> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kefu-sandbox-'));
  const ports = { api: await freePort(), sim: await freePort(), bot: await freePort() };
  const proc = spawnEntry('src/sandbox/main.ts', {}, [
    '--port',
    String(ports.api),
    '--sim-port',
    String(ports.sim),
    '--bot-port',
    String(ports.bot),
    '--data-dir',
    dataDir,
    ...args,
  ]);
  const deadline = Date.now() + 150_000;
  while (!proc.stdout.some((l) => l.includes('Sandbox ready.'))) {
    if (Date.now() > deadline)
      throw new Error(`sandbox not ready: ${proc.stdout.join('\n')} ${proc.stderr.join('')}`);
    if (proc.child.exitCode !== null) throw new Error(`sandbox exited: ${proc.stderr.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const output = proc.stdout.join('\n');
  const find = (re: RegExp) => {
    const m = re.exec(output);
    if (!m) throw new Error(`not in the sandbox output: ${re}\n${output}`);
    return m[1] as string;
  };
  return {
    proc,
    ports,
    dataDir,
    output,
    apiKey: find(/API key\s+(kr_\S+)/),
    link: find(/(http:\/\/localhost:\d+\/connect\/\S+)/),
    chatUrl: find(/Chat as a WeChat user\s+(\S+)/),
    curlLines: proc.stdout
      .map((l) => l.trim())
      .filter((l) => l.startsWith('curl ') || l.startsWith('export ')),
    stop: async () => {
      proc.child.kill('SIGINT');
      const code = await proc.exited;
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}
