import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type TestHarness } from '../../helpers/app.js';
import { onPostgres } from '../../helpers/db.js';
import { pushOf, textFields } from '../../helpers/pushes.js';
import { freshOpenid, seedHeldMiniProgram } from './seed.js';

describe('database unavailable', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers 503, never success, and counts db_unavailable', async () => {
    const mp = await seedHeldMiniProgram(h);
    const first = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'before'));
    const ok = await h.request(first.path, { method: 'POST', body: first.body });
    expect(await ok.text()).toBe('success');

    await h.database.db.close();
    const pushes = [1, 2, 3].map((i) => pushOf(h.deps.crypto, mp, textFields(freshOpenid(), `lost ${i}`)));
    const answers = await Promise.all(pushes.map((p) => h.request(p.path, { method: 'POST', body: p.body })));
    expect(answers.map((r) => r.status)).toEqual([503, 503, 503]);
    for (const r of answers) expect(await r.text()).not.toBe('success');
    const metrics = await h.deps.metrics.registry.getSingleMetricAsString('kefu_pushes_received_total');
    expect(metrics).toMatch(/result="db_unavailable"\} 3/);
  });

  it.runIf(onPostgres)(
    'a database refusing connections (ALLOW_CONNECTIONS false) is 503 as well, then recovers',
    async () => {
      const refusing = await createHarness();
      const name = new URL(refusing.database.url as string).pathname.slice(1);
      const admin = postgres(process.env.DATABASE_URL as string, { max: 1, onnotice: () => {} });
      try {
        const mp = await seedHeldMiniProgram(refusing);
        await admin.unsafe(`alter database ${name} allow_connections false`);
        await admin.unsafe(
          `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`,
        );
        const push = pushOf(refusing.deps.crypto, mp, textFields(freshOpenid(), 'while refused'));
        const refused = await refusing.request(push.path, { method: 'POST', body: push.body });
        expect([refused.status, await refused.text()]).toEqual([503, 'db_unavailable']);
        await admin.unsafe(`alter database ${name} allow_connections true`);
        const again = await refusing.request(push.path, { method: 'POST', body: push.body });
        expect(await again.text()).toBe('success');
      } finally {
        await admin.unsafe(`alter database ${name} allow_connections true`).catch(() => {});
        await admin.end();
        await refusing.close();
      }
    },
  );

  it.runIf(onPostgres)(
    'a stalled database: past INGEST_QUEUE_MAX waiting pushes the next is 503 at once; the rest are stored',
    async () => {
      const stalled = await createHarness({ env: { INGEST_QUEUE_MAX: '1', DB_POOL_MAX: '10' } });
      const lock = postgres(stalled.database.url as string, { max: 1, onnotice: () => {} });
      try {
        const mp = await seedHeldMiniProgram(stalled);
        let release!: () => void;
        const held = new Promise<void>((r) => {
          release = r;
        });
        let locked!: () => void;
        const isLocked = new Promise<void>((r) => {
          locked = r;
        });
        const tx = lock.begin(async (q) => {
          await q`lock table pushes in access exclusive mode`;
          locked();
          await held;
        });
        await isLocked;
        const post = (i: number) => {
          const p = pushOf(stalled.deps.crypto, mp, textFields(freshOpenid(), `stalled ${i}`));
          return stalled.request(p.path, { method: 'POST', body: p.body });
        };
        // four batches in flight (the pool's limit for ingest), blocked on the lock, and one push waiting
        const accepted: Promise<Response>[] = [];
        for (let i = 0; i < 5; i++) {
          accepted.push(post(i));
          await new Promise((r) => setTimeout(r, 40));
        }
        const refused = await post(5);
        expect([refused.status, await refused.text()]).toEqual([503, 'overloaded']);
        release();
        await tx;
        const answers = await Promise.all(accepted);
        expect(await Promise.all(answers.map((r) => r.text()))).toEqual(Array(5).fill('success'));
        const metrics = await stalled.deps.metrics.registry.getSingleMetricAsString(
          'kefu_pushes_received_total',
        );
        expect(metrics).toMatch(/result="overloaded"\} 1/);
      } finally {
        await lock.end();
        await stalled.close();
      }
    },
  );
});
