import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, COMPONENT, TEST_MASTER_KEY } from '../helpers/app.js';
import { createEmptyPostgresDatabase, onPostgres } from '../helpers/db.js';
import { spawnEntry, spawnNpmScript } from '../helpers/process.js';

const baseEnv = {
  WECHAT_COMPONENT_APPID: COMPONENT.appid,
  WECHAT_COMPONENT_APPSECRET: COMPONENT.appsecret,
  WECHAT_COMPONENT_TOKEN: COMPONENT.token,
  WECHAT_COMPONENT_AES_KEY: COMPONENT.aesKey,
  ADMIN_TOKEN,
  MASTER_KEY: TEST_MASTER_KEY,
  DATABASE_URL: 'memory://',
  HOST: '127.0.0.1',
  PORT: '0',
  // The WeChat API is never reached in these tests; loopback keeps it that way.
  WECHAT_API_BASE_URL: 'http://127.0.0.1:9',
};

// Child processes start tsx and PGlite: generous limits keep a loaded CI machine from flaking.
const SPAWN_TIMEOUT = 120_000;
const running: ReturnType<typeof spawnEntry>[] = [];
afterAll(() => {
  for (const p of running) p.child.kill('SIGKILL');
});

describe('npm start', () => {
  it(
    'exits 1 naming a missing required variable',
    async () => {
      const { WECHAT_COMPONENT_APPID: _, ...env } = baseEnv;
      const p = spawnEntry('src/main.ts', { ...env, MASTER_KEY: 'bad' });
      running.push(p);
      expect(await p.exited).toBe(1);
      const err = p.stderr.join('');
      expect(err).toContain('WECHAT_COMPONENT_APPID is required');
      expect(err).toContain('MASTER_KEY');
    },
    SPAWN_TIMEOUT,
  );

  it(
    'exits 1 with one clear line when the port is taken',
    async () => {
      const first = spawnEntry('src/main.ts', baseEnv);
      running.push(first);
      const started = await first.waitForLog('kefu-relay started', SPAWN_TIMEOUT);
      const second = spawnEntry('src/main.ts', { ...baseEnv, PORT: String(started.port) });
      running.push(second);
      expect(await second.exited).toBe(1);
      expect(second.stderr.join('')).toBe(
        `kefu-relay failed to start: cannot listen on 127.0.0.1:${started.port}: EADDRINUSE\n`,
      );
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
    },
    SPAWN_TIMEOUT,
  );

  it(
    'serves, then stops on SIGTERM with exit 0',
    async () => {
      const p = spawnEntry('src/main.ts', baseEnv);
      running.push(p);
      const started = await p.waitForLog('kefu-relay started', SPAWN_TIMEOUT);
      const base = `http://127.0.0.1:${started.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/docs`)).status).toBe(200);
      const tenants = await fetch(`${base}/admin/tenants`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(tenants.status).toBe(200);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    },
    SPAWN_TIMEOUT,
  );

  it(
    'through npm start, SIGTERM to npm reaches the service: it shuts down gracefully and npm exits 0',
    async () => {
      const p = spawnNpmScript('start', baseEnv);
      running.push(p);
      const started = await p.waitForLog('kefu-relay started', SPAWN_TIMEOUT);
      const base = `http://127.0.0.1:${started.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.stdout.some((l) => l.includes('"msg":"kefu-relay stopped"'))).toBe(true);
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    },
    SPAWN_TIMEOUT,
  );

  it.runIf(onPostgres)(
    'two instances starting together on one empty PostgreSQL database both come up',
    async () => {
      const empty = await createEmptyPostgresDatabase();
      try {
        const env = { ...baseEnv, DATABASE_URL: empty.url };
        const a = spawnEntry('src/main.ts', env);
        const b = spawnEntry('src/main.ts', env);
        running.push(a, b);
        const [sa, sb] = await Promise.all([
          a.waitForLog('kefu-relay started', SPAWN_TIMEOUT),
          b.waitForLog('kefu-relay started', SPAWN_TIMEOUT),
        ]);
        for (const s of [sa, sb]) expect((await fetch(`http://127.0.0.1:${s.port}/readyz`)).status).toBe(200);
        const sql = postgres(empty.url, { max: 1 });
        const applied = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
        await sql.end();
        const journal = (await import('../../drizzle/meta/_journal.json', { with: { type: 'json' } }))
          .default;
        expect(applied[0]!.n).toBe(journal.entries.length);
        a.child.kill('SIGTERM');
        b.child.kill('SIGTERM');
        expect(await a.exited).toBe(0);
        expect(await b.exited).toBe(0);
      } finally {
        await empty.drop();
      }
    },
    SPAWN_TIMEOUT,
  );
});
