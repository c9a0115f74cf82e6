import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { enqueueEvents } from '../../src/delivery/outbox.js';
import { createLogger } from '../../src/log.js';
import { buildDeps, type RunningService, startService } from '../../src/service.js';
import { ADMIN_TOKEN, LogCapture, testConfig } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// startService as main.ts runs it, over HTTP on a real port: the roles of RUN_API / RUN_WORKERS and shutdown.
// WeChat is a closed loopback port: the background jobs' calls fail at once, and never leave the machine.

const env = (extra: Record<string, string>) =>
  testConfig({ HOST: '127.0.0.1', PORT: '0', WECHAT_API_BASE_URL: 'http://127.0.0.1:9', ...extra });

let running: { svc: RunningService; db: TestDatabase }[] = [];
afterEach(async () => {
  for (const r of running) {
    await r.svc.stop();
    await r.db.drop().catch(() => {});
  }
  running = [];
});

async function start(
  extra: Record<string, string>,
  seed?: (db: TestDatabase) => Promise<void>,
  logs?: LogCapture,
) {
  const db = await createTestDatabase();
  await seed?.(db);
  const log = logs ? { log: createLogger({ level: 'info', destination: logs }) } : {};
  const svc = await startService(env(extra), { db: db.db, ...log });
  running.push({ svc, db });
  return svc;
}

/** a tenant with an endpoint and `n` events waiting for it, written as the API and ingest would */
async function backlog(db: TestDatabase, n: number): Promise<void> {
  const app = createApp(buildDeps(env({}), { db: db.db }));
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const tenant = (await (
    await app.request('/admin/tenants', { method: 'POST', headers: admin, body: '{"name":"Backlog"}' })
  ).json()) as { id: string };
  const key = (await (
    await app.request(`/admin/tenants/${tenant.id}/api-keys`, { method: 'POST', headers: admin, body: '{}' })
  ).json()) as { key: string };
  const created = await app.request('/v1/webhook-endpoints', {
    method: 'POST',
    headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'http://127.0.0.1:9/hook' }),
  });
  expect(created.status).toBe(201);
  const events = Array.from({ length: n }, () => ({
    tenantId: tenant.id,
    appid: 'wxbacklog',
    type: 'wechat.event' as const,
    data: {},
  }));
  await db.db.transaction((q) => enqueueEvents(q, events, new Date(Date.now() - 60_000)));
}

describe('a worker-only process (RUN_API=false)', () => {
  it('serves /healthz, /readyz and /metrics on PORT, and nothing a tenant or WeChat calls', async () => {
    const svc = await start({ RUN_API: 'false' });
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${svc.url}/readyz`)).json()).toEqual({ status: 'ready' });
    expect(await (await fetch(`${svc.url}/metrics`)).text()).toContain('kefu_delivery_queue_depth');
    for (const [method, path] of [
      ['GET', '/admin/tenants'],
      ['GET', '/v1/events'],
      ['POST', '/wechat/callback/wx1234567890abcdef'],
      ['GET', '/docs'],
    ]) {
      const res = await fetch(`${svc.url}${path}`, { method });
      expect([path, res.status]).toEqual([path, 404]);
    }
  });
});

describe('an API-only process (RUN_WORKERS=false)', () => {
  it('keeps the queue gauges current although it delivers nothing', async () => {
    const svc = await start({ RUN_WORKERS: 'false' }, (db) => backlog(db, 3));
    const depth = async () => {
      const text = await (await fetch(`${svc.url}/metrics`)).text();
      return Number(/^kefu_delivery_queue_depth (\d+)/m.exec(text)?.[1]);
    };
    const until = Date.now() + 3_000;
    while ((await depth()) !== 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await depth()).toBe(3);
  });
});

describe('shutdown', () => {
  it('once stopping, /readyz is 503 and every response closes its connection', async () => {
    const svc = await start({});
    const before = await fetch(`${svc.url}/healthz`);
    expect(before.headers.get('connection')).not.toBe('close');
    svc.deps.lifecycle.stopping = true; // what stop() sets first, before it waits for the in-flight requests
    const ready = await fetch(`${svc.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([
      503,
      { status: 'unavailable', reason: 'shutting down' },
    ]);
    expect(ready.headers.get('connection')).toBe('close');
    expect((await fetch(`${svc.url}/healthz`)).headers.get('connection')).toBe('close');
    svc.deps.lifecycle.stopping = false;
  });

  it('drains for SHUTDOWN_DRAIN_MS: new connections are still served, /readyz 503, then the port closes', async () => {
    const logs = new LogCapture();
    const svc = await start({ SHUTDOWN_DRAIN_MS: '1500' }, undefined, logs);
    const began = Date.now();
    const stopped = svc.stop();
    await new Promise((r) => setTimeout(r, 200));
    // a new connection, as a load balancer's health check makes it
    const ready = await fetch(`${svc.url}/readyz`);
    expect([ready.status, ready.headers.get('connection')]).toEqual([503, 'close']);
    const health = await fetch(`${svc.url}/healthz`);
    expect([health.status, health.headers.get('connection')]).toEqual([200, 'close']);
    // sends go on during the drain: the whole deadline is still ahead of them
    expect(svc.deps.lifecycle).toEqual({ stopping: true, closing: false });
    await stopped;
    expect(Date.now() - began).toBeGreaterThanOrEqual(1500);
    // the drain's 503s are what it is for: logged as requests, not as failures
    const readyz = logs.lines.map((l) => JSON.parse(l)).filter((l) => l.route === '/readyz');
    expect(readyz.map((l) => [l.status, l.level])).toEqual([[503, 'info']]);
    expect(svc.deps.lifecycle.closing).toBe(true);
    await expect(fetch(`${svc.url}/healthz`)).rejects.toThrow();
  });

  it('without a drain (the default) the listener closes at once', async () => {
    const svc = await start({});
    await svc.stop();
    await expect(fetch(`${svc.url}/healthz`)).rejects.toThrow();
  });
});
