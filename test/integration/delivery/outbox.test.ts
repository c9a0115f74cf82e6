import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueEvents, type NewEvent, notifyDeliveries } from '../../../src/delivery/outbox.js';
import { newId } from '../../../src/ids.js';
import { createHarness, createTenantWithKey, type TestHarness } from '../../helpers/app.js';

let h: TestHarness;
let tenantA: string;
let tenantB: string;

async function insertEndpoint(
  tenantId: string,
  opts: { eventTypes?: string[]; appids?: string[]; enabled?: boolean } = {},
) {
  const id = newId('wep');
  await h.deps.db.query(
    `INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, appids, enabled, secret_enc)
     VALUES ($1, $2, 'http://127.0.0.1:1/hook', $3::text[], $4::text[], $5, 'x')`,
    [id, tenantId, opts.eventTypes ?? null, opts.appids ?? null, opts.enabled ?? true],
  );
  return id;
}

beforeAll(async () => {
  h = await createHarness();
  tenantA = (await createTenantWithKey(h, 'A')).tenantId;
  tenantB = (await createTenantWithKey(h, 'B')).tenantId;
});
afterAll(() => h.close());

describe('enqueueEvents', () => {
  it('stores a batch of events and one delivery per matching enabled endpoint, in one transaction', async () => {
    const all = await insertEndpoint(tenantA);
    const onlyMessages = await insertEndpoint(tenantA, { eventTypes: ['message.received'] });
    const onlyApp2 = await insertEndpoint(tenantA, { appids: ['wxapp2'] });
    await insertEndpoint(tenantA, { enabled: false });
    const other = await insertEndpoint(tenantB);
    const now = h.deps.clock.now();
    const batch: NewEvent[] = [
      {
        tenantId: tenantA,
        appid: 'wxapp1',
        type: 'message.received',
        data: { n: 1, msgId: '12345678901234567890' },
      },
      { tenantId: tenantA, appid: 'wxapp2', type: 'session.entered', data: { n: 2 } },
      { tenantId: tenantB, appid: 'wxapp9', type: 'wechat.event', data: { n: 3 } },
    ];
    const res = await h.deps.db.transaction((q) => enqueueEvents(q, batch, now));
    notifyDeliveries(h.deps);
    expect(res.eventIds).toHaveLength(3);
    expect(res.deliveries).toBe(5);
    const events = await h.deps.db.query<{ id: string; data: { n: number; msgId?: string } }>(
      'SELECT id, data FROM events WHERE id = ANY($1::text[]) ORDER BY id',
      [res.eventIds],
    );
    expect(events.map((e) => e.id)).toEqual(res.eventIds);
    expect(events.map((e) => e.data.n)).toEqual([1, 2, 3]);
    expect(events[0]?.data.msgId).toBe('12345678901234567890');
    const dl = await h.deps.db.query<{
      event_id: string;
      endpoint_id: string;
      status: string;
      next_attempt_at: Date;
    }>(
      'SELECT event_id, endpoint_id, status, next_attempt_at FROM deliveries WHERE event_id = ANY($1::text[])',
      [res.eventIds],
    );
    const pairs = dl.map((d) => `${res.eventIds.indexOf(d.event_id)}:${d.endpoint_id}`).sort();
    expect(pairs).toEqual(
      [`0:${all}`, `0:${onlyMessages}`, `1:${all}`, `1:${onlyApp2}`, `2:${other}`].sort(),
    );
    expect(dl.every((d) => d.status === 'pending' && d.next_attempt_at.getTime() === now.getTime())).toBe(
      true,
    );
    const metrics = await h.deps.metrics.registry.getSingleMetricAsString('kefu_events_created_total');
    expect(metrics).toContain('type="message.received"} 1');
  });

  it('rolls back with the caller: no event without its deliveries', async () => {
    const before = await h.deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    await expect(
      h.deps.db.transaction(async (q) => {
        await enqueueEvents(
          q,
          [{ tenantId: tenantA, appid: 'wxapp1', type: 'wechat.event', data: {} }],
          h.deps.clock.now(),
        );
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const after = await h.deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    expect(after[0]?.n).toBe(before[0]?.n);
  });
});
