import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../../src/db/client.js';
import { WeChatCrypto } from '../../../src/wechat/crypto.js';
import { ADMIN_TOKEN, COMPONENT, TEST_MASTER_KEY } from '../../helpers/app.js';
import { createTestDatabase, onPostgres, type TestDatabase } from '../../helpers/db.js';
import { pushOf, textFields } from '../../helpers/pushes.js';
import { startReceiver, type TestReceiver } from '../../helpers/receiver.js';
import { unreachableUrl } from '../../helpers/simulator.js';

// A kefu-relay process killed with SIGKILL while pushes are arriving: every push it answered `success` must be
// stored and, after a restart, delivered. PostgreSQL only: two processes share one server database.

const PUSHES = 400;
const KILL_AFTER = 120;
const crypto = new WeChatCrypto({
  token: COMPONENT.token,
  encodingAesKey: COMPONENT.aesKey,
  appid: COMPONENT.appid,
});
const mp = { appid: 'wxcrashtest000001', userName: 'gh_crashtest0001' };

let database: TestDatabase;
let db: Database;
let receiver: TestReceiver;
const children: ChildProcess[] = [];

/**
 * Runs `src/main.ts` as `npm start` does, as one node process, so that
 * SIGKILL hits the service itself. Resolves with its address once it logged that it started.
 */
async function start(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: join(import.meta.dirname, '..', '..', '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DATABASE_URL: database.url as string,
      HOST: '127.0.0.1',
      PORT: '0',
      WECHAT_COMPONENT_APPID: COMPONENT.appid,
      WECHAT_COMPONENT_APPSECRET: COMPONENT.appsecret,
      WECHAT_COMPONENT_TOKEN: COMPONENT.token,
      WECHAT_COMPONENT_AES_KEY: COMPONENT.aesKey,
      WECHAT_API_BASE_URL: await unreachableUrl(),
      ADMIN_TOKEN,
      MASTER_KEY: TEST_MASTER_KEY,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.includes('"kefu-relay started"')) resolve(JSON.parse(line).port as number);
      }
    });
    child.once('exit', (code) => reject(new Error(`kefu-relay exited ${code} before starting: ${stderr}`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

async function call(url: string, path: string, token: string, body: unknown) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, string>;
}

beforeAll(async () => {
  if (!onPostgres) return;
  database = await createTestDatabase();
  db = await openDatabase({ url: database.url, poolMax: 2 });
  receiver = await startReceiver();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await receiver?.close();
  await db?.close();
  await database?.drop();
});

describe('crash safety', () => {
  it.runIf(onPostgres)(
    '(PostgreSQL only) every push answered success survives SIGKILL and is delivered after restart',
    async () => {
      const first = await start({ RUN_WORKERS: 'false' });
      const tenant = await call(first.url, '/admin/tenants', ADMIN_TOKEN, { name: 'Crash' });
      const { key } = await call(first.url, `/admin/tenants/${tenant.id}/api-keys`, ADMIN_TOKEN, {});
      await db.query(
        `INSERT INTO authorizers (appid, tenant_id, user_name, nickname, status, permissions, authorized_at)
       VALUES ($1, $2, $3, 'Crash', 'authorized', '{19}', now())`,
        [mp.appid, tenant.id, mp.userName],
      );
      await call(first.url, '/v1/webhook-endpoints', key as string, { url: receiver.url });

      const pushes = Array.from({ length: PUSHES }, (_, i) => {
        const fields = textFields(`o-crash-${i % 50}`, `crash ${i}`, {
          msgId: String(26_000_000_000_000_000n + BigInt(i)),
        });
        return { msgId: fields.MsgId as string, push: pushOf(crypto, mp, fields) };
      });
      const pool = new Pool(first.url, { connections: 32 });
      const answered: string[] = [];
      let next = 0;
      const sender = async () => {
        while (next < pushes.length) {
          const { msgId, push } = pushes[next++] as (typeof pushes)[number];
          try {
            const res = await pool.request({ method: 'POST', path: push.path, body: push.body });
            const text = await res.body.text();
            if (res.statusCode === 200 && text === 'success') answered.push(msgId);
            if (answered.length === KILL_AFTER) first.child.kill('SIGKILL');
          } catch {
            // the connection died with the process: not answered, WeChat would retry it
          }
        }
      };
      await Promise.all(Array.from({ length: 32 }, sender));
      await exited(first.child);
      await pool.close().catch(() => {});
      expect(first.child.signalCode).toBe('SIGKILL');
      expect(answered.length).toBeGreaterThanOrEqual(KILL_AFTER);
      expect(answered.length).toBeLessThan(PUSHES);

      const stored = await db.query<{ msg_id: string; deliveries: number }>(
        `SELECT p.msg_id, count(d.id)::int AS deliveries FROM pushes p
       JOIN events e ON e.id = p.event_id JOIN deliveries d ON d.event_id = e.id
       WHERE p.appid = $1 GROUP BY p.msg_id`,
        [mp.appid],
      );
      const storedIds = new Set(stored.map((r) => r.msg_id));
      expect(answered.filter((id) => !storedIds.has(id))).toEqual([]);
      expect(stored.every((r) => r.deliveries === 1)).toBe(true);

      const second = await start({ RUN_WORKERS: 'true' });
      await Promise.all(
        answered.map((id) => receiver.waitFor((r) => JSON.parse(r.body).data.msgId === id, 30_000)),
      );
      expect(new Set(receiver.requests().map((r) => r.headers['webhook-id'])).size).toBeGreaterThanOrEqual(
        answered.length,
      );
      // the restarted service shuts down cleanly
      second.child.kill('SIGTERM');
      expect(await exited(second.child)).toBe(0);
    },
    120_000,
  );
});
