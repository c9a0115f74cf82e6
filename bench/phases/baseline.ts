import type { Bench } from '../context.js';
import { COMPONENT } from '../kefu.js';
import { closedLoop, type LoadResult } from '../load.js';
import { type Child, freePort, startChild } from '../proc.js';

/** (a) a bare @hono/node-server hello world: the framework's ceiling on this machine. */
export async function runHello(b: Bench): Promise<LoadResult> {
  const port = await freePort();
  const child = startChild('hello', 'bench/servers/hello.ts', { PORT: String(port) }, b.logDir);
  try {
    await child.waitFor('listening');
    const origin = `http://127.0.0.1:${port}`;
    const next = () => ({ method: 'GET' as const, path: '/' });
    const c = b.settings.connections;
    await closedLoop(origin, { connections: c, seconds: b.settings.warmupSeconds, next });
    return await closedLoop(origin, { connections: c, seconds: b.settings.helloSeconds, next });
  } finally {
    await child.stop();
  }
}

/** (b) verify + decrypt + one INSERT per push: the durable minimum kefu-relay's ingest is held to. */
export async function startReference(b: Bench): Promise<{ url: string; child: Child }> {
  const port = await freePort();
  const child = startChild(
    'reference',
    'bench/reference-server.ts',
    {
      PORT: String(port),
      DATABASE_URL: b.database.url,
      WECHAT_COMPONENT_APPID: COMPONENT.appid,
      WECHAT_COMPONENT_TOKEN: COMPONENT.token,
      WECHAT_COMPONENT_AES_KEY: COMPONENT.aesKey,
    },
    b.logDir,
  );
  const line = await child.waitFor('listening');
  const sync = (JSON.parse(line) as { synchronousCommit?: string }).synchronousCommit;
  if (sync !== 'on') b.notes.push(`reference server: synchronous_commit is "${sync}", not on`);
  return { url: `http://127.0.0.1:${port}`, child };
}
