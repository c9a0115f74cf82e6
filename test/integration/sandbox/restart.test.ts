import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { json } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { spawnEntry } from '../../helpers/process.js';
import { startSandbox } from '../../helpers/sandbox.js';

// `npm run sandbox` started wrongly, and started again on the data of an earlier run.

const parent = mkdtempSync(join(tmpdir(), 'kefu-sandbox-restart-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

async function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawnEntry('src/sandbox/main.ts', {}, args);
  const code = await proc.exited;
  return { code, stderr: proc.stderr.join('') };
}

describe('npm run sandbox, started wrongly', () => {
  it('an unknown option: one line, a pointer to --help, no stack trace', async () => {
    const { code, stderr } = await runToExit(['--bogus', '--data-dir', join(parent, 'bogus')]);
    expect(code).toBe(2);
    expect(stderr).toContain("Unknown option '--bogus'");
    expect(stderr).toContain('--help');
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(parent, 'bogus'))).toBe(false);
  }, 60_000);

  it('a port in use: says which and how to choose another, and creates no data', async () => {
    const busy = createServer();
    const port = await freePort();
    await new Promise<void>((r) => busy.listen(port, '127.0.0.1', () => r()));
    try {
      const dataDir = join(parent, 'busy');
      const { code, stderr } = await runToExit(['--port', String(port), '--data-dir', dataDir]);
      expect(code).toBe(2);
      expect(stderr).toContain(`port ${port} is in use`);
      expect(stderr).toContain('--port');
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      busy.close();
    }
  }, 60_000);
});

describe('npm run sandbox, the same port twice', () => {
  it('refuses --bot-port equal to --port with one line, before anything is written', async () => {
    const dataDir = join(parent, 'same');
    const port = String(await freePort());
    const { code, stderr } = await runToExit([
      '--port',
      port,
      '--bot-port',
      port,
      '--echo-bot',
      '--data-dir',
      dataDir,
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain('must be three different ports');
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);
});

describe('npm run sandbox, started again on the same data', () => {
  it("disables the echo bot's webhook endpoint when the bot no longer runs, and --echo-bot enables it again", async () => {
    const dataDir = join(parent, 'data');
    const endpoints = async (sb: Awaited<ReturnType<typeof startSandbox>>) =>
      (await json(
        await fetch(`http://127.0.0.1:${sb.ports.api}/v1/webhook-endpoints`, {
          headers: { authorization: `Bearer ${sb.apiKey}` },
        }),
      )) as { data: { description: string; enabled: boolean }[] };

    const withBot = await startSandbox(['--echo-bot'], { dataDir, keepData: true });
    expect((await endpoints(withBot)).data).toMatchObject([
      { description: 'sandbox echo bot', enabled: true },
    ]);
    expect(await withBot.stop()).toBe(0);

    const without = await startSandbox([], { dataDir, keepData: true });
    expect(without.output).toContain('(data kept from the last run)');
    expect(without.output).toContain('its webhook endpoint is disabled');
    expect((await endpoints(without)).data).toMatchObject([
      { description: 'sandbox echo bot', enabled: false },
    ]);
    expect(await without.stop()).toBe(0);

    const again = await startSandbox(['--echo-bot'], { dataDir, keepData: true });
    expect((await endpoints(again)).data).toMatchObject([{ description: 'sandbox echo bot', enabled: true }]);
    expect(await again.stop()).toBe(0);
  }, 240_000);
});
