import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { openDatabase } from '../../../src/db/client.js';
import { enqueueEvents, type NewEvent } from '../../../src/delivery/outbox.js';
import { createDeliveryWorker } from '../../../src/delivery/worker.js';
import { buildDeps } from '../../../src/service.js';
import { createHarness, createTenantWithKey, type TestHarness } from '../../helpers/app.js';
import { onPostgres } from '../../helpers/db.js';
import { startReceiver, type TestReceiver } from '../../helpers/receiver.js';

let h: TestHarness;
let receiver: TestReceiver;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  h = await createHarness({ clock, env: { DELIVERY_CONCURRENCY: '16' } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  await h.close();
});

describe('several instances', () => {
  it.runIf(onPostgres)(
    'two workers on two sessions attempt each delivery exactly once (PostgreSQL: two sessions)',
    async () => {
      const { tenantId, apiKey } = await createTenantWithKey(h);
      const res = await h.request('/v1/webhook-endpoints', {
        method: 'POST',
        json: { url: receiver.url },
        token: apiKey,
      });
      expect(res.status).toBe(201);
      const batch: NewEvent[] = Array.from({ length: 300 }, (_, i) => ({
        tenantId,
        appid: 'wxc',
        type: 'wechat.event',
        data: { i },
      }));
      const { eventIds } = await h.deps.db.transaction((q) => enqueueEvents(q, batch, clock.now()));

      const secondDb = await openDatabase({ url: h.database.url, poolMax: 4 });
      const second = buildDeps(h.deps.config, { db: secondDb, log: h.deps.log, clock });
      const a = createDeliveryWorker(h.deps);
      const b = createDeliveryWorker(second);
      try {
        for (;;) {
          const [na, nb] = await Promise.all([a.runOnce(), b.runOnce()]);
          if (na + nb === 0) break;
        }
      } finally {
        await a.stop(Date.now() + 1_000);
        await b.stop(Date.now() + 1_000);
        await secondDb.close();
      }
      const ids = receiver.requests().map((r) => r.headers['webhook-id']);
      expect(ids).toHaveLength(300);
      expect(new Set(ids)).toEqual(new Set(eventIds));
      const [row] = await h.deps.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM deliveries WHERE tenant_id = $1 AND status = 'succeeded' AND attempt_count = 1`,
        [tenantId],
      );
      expect(row?.n).toBe(300);
    },
  );
});
