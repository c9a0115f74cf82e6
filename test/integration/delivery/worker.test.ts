import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { openDatabase } from '../../../src/db/client.js';
import { type EventType, enqueueEvents, notifyDeliveries } from '../../../src/delivery/outbox.js';
import { claimDue, failPendingDeliveries, recordAttempt } from '../../../src/delivery/queue.js';
import {
  createDeliveryWorker,
  createQueueStatsJob,
  type DeliveryWorker,
} from '../../../src/delivery/worker.js';
import { createHarness, createTenantWithKey, type TestHarness } from '../../helpers/app.js';
import { onPostgres } from '../../helpers/db.js';
import { json } from '../../helpers/http.js';
import { startReceiver, type TestReceiver } from '../../helpers/receiver.js';

const ENV = {
  DELIVERY_RETRY_SCHEDULE: '5s,1m,10m',
  DELIVERY_TIMEOUT_MS: '1000',
  ENDPOINT_DISABLE_AFTER: '1h',
};

let h: TestHarness;
let clock: ManualClock;
let receiver: TestReceiver;
let worker: DeliveryWorker;

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  h = await createHarness({ env: ENV, clock });
  receiver = await startReceiver();
  worker = createDeliveryWorker(h.deps, { random: () => 0.5 });
});
afterAll(async () => {
  await worker.stop(Date.now() + 2_000);
  await receiver.close();
  await h.close();
});

interface Tenant {
  tenantId: string;
  apiKey: string;
}

const tenant = async (name = 'T'): Promise<Tenant> => createTenantWithKey(h, name);

async function endpoint(t: Tenant, path: string, extra: Record<string, unknown> = {}) {
  const res = await h.request('/v1/webhook-endpoints', {
    method: 'POST',
    json: { url: receiver.urlFor(path), ...extra },
    token: t.apiKey,
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; secret: string };
}

async function emit(
  t: Tenant,
  type: EventType = 'message.received',
  appid = 'wxapp1',
  data: Record<string, unknown> = {},
) {
  const { eventIds } = await h.deps.db.transaction((q) =>
    enqueueEvents(q, [{ tenantId: t.tenantId, appid, type, data: { openid: 'o1', ...data } }], clock.now()),
  );
  notifyDeliveries(h.deps);
  return eventIds[0] as string;
}

async function deliveryStatus(eventId: string, path: string): Promise<string | undefined> {
  const [row] = await h.deps.db.query<{ status: string }>(
    `SELECT d.status FROM deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
     WHERE d.event_id = $1 AND w.url LIKE '%' || $2`,
    [eventId, path],
  );
  return row?.status;
}

/** Polls a condition on the database (the worker runs on its own here); fails after `timeoutMs`. */
async function waitUntil(probe: () => Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests read the Delivery JSON loosely
type Loose = Record<string, any>;

const deliveriesOf = async (t: Tenant, query: string) =>
  (await json(h.request(`/v1/deliveries?${query}`, { token: t.apiKey }))).data as Loose[];

async function onlyDelivery(t: Tenant, eventId: string) {
  const list = await deliveriesOf(t, `eventId=${eventId}`);
  expect(list).toHaveLength(1);
  return list[0] as Loose;
}

describe('delivery worker', () => {
  it('posts the event signed as Standard Webhooks verifies, and records the attempt', async () => {
    clock.set(Date.now());
    const t = await tenant();
    const ep = await endpoint(t, '/signed');
    const eventId = await emit(t, 'message.received', 'wxapp1', {
      msgId: '24127645937185203712',
      text: { content: '你好' },
    });
    expect(await worker.runOnce()).toBeGreaterThanOrEqual(1);
    const [req] = receiver.requests('/signed');
    expect(req).toBeDefined();
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['webhook-id']).toBe(eventId);
    expect(req!.headers['webhook-timestamp']).toBe(String(Math.floor(clock.now().getTime() / 1000)));
    const payload = new Webhook(ep.secret).verify(req!.body, req!.headers) as Record<string, unknown>;
    const apiEvent = await json(h.request(`/v1/events/${eventId}`, { token: t.apiKey }));
    const { deliveries, ...event } = apiEvent;
    expect(payload).toEqual(event);
    expect(payload).toMatchObject({ id: eventId, type: 'message.received', appid: 'wxapp1' });
    expect((payload.data as { msgId: string }).msgId).toBe('24127645937185203712');
    const d = await onlyDelivery(t, eventId);
    expect(deliveries).toEqual([{ id: d.id, endpointId: ep.id, status: 'succeeded', attemptCount: 1 }]);
    expect(d).toEqual({
      id: expect.stringMatching(/^dlv_/),
      eventId,
      endpointId: ep.id,
      status: 'succeeded',
      attemptCount: 1,
      nextAttemptAt: null,
      attempts: [
        {
          at: clock.now().toISOString(),
          statusCode: 200,
          durationMs: expect.any(Number),
          error: null,
          responseBody: 'ok',
        },
      ],
    });
    const metrics = await h.deps.metrics.registry.metrics();
    expect(metrics).toMatch(/kefu_delivery_attempts_total\{outcome="succeeded"\} [1-9]/);
    expect(metrics).toMatch(/kefu_delivery_attempt_duration_seconds_count [1-9]/);
    expect(h.logs.text).not.toContain(ep.secret.slice(6));
  });

  it('retries on the schedule until it succeeds, with the same webhook-id', async () => {
    const t = await tenant();
    await endpoint(t, '/flaky');
    receiver.replyOnce('/flaky', { status: 500, body: 'boom' }, { status: 502 });
    const eventId = await emit(t);
    await worker.runOnce();
    let d = await onlyDelivery(t, eventId);
    expect(d).toMatchObject({ status: 'pending', attemptCount: 1 });
    expect(d.nextAttemptAt).toBe(new Date(clock.now().getTime() + 5_000).toISOString());
    expect(d.attempts[0]).toMatchObject({ statusCode: 500, responseBody: 'boom', error: null });
    clock.advance(4_000);
    await worker.runOnce();
    expect(receiver.requests('/flaky')).toHaveLength(1);
    clock.advance(1_000);
    await worker.runOnce();
    d = await onlyDelivery(t, eventId);
    expect(d).toMatchObject({ status: 'pending', attemptCount: 2 });
    expect(d.nextAttemptAt).toBe(new Date(clock.now().getTime() + 60_000).toISOString());
    clock.advance(60_000);
    await worker.runOnce();
    d = await onlyDelivery(t, eventId);
    expect(d).toMatchObject({ status: 'succeeded', attemptCount: 3, nextAttemptAt: null });
    expect(d.attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 502, 200]);
    const ids = receiver.requests('/flaky').map((r) => r.headers['webhook-id']);
    expect(ids).toEqual([eventId, eventId, eventId]);
  });

  it('marks the delivery failed after the last attempt of the schedule', async () => {
    const t = await tenant();
    await endpoint(t, '/gone');
    receiver.reply('/gone', { status: 410, body: 'x'.repeat(5000) });
    const eventId = await emit(t);
    for (const wait of [0, 5_000, 60_000, 600_000]) {
      clock.advance(wait);
      await worker.runOnce();
    }
    const d = await onlyDelivery(t, eventId);
    expect(d).toMatchObject({ status: 'failed', attemptCount: 4, nextAttemptAt: null });
    expect(d.attempts).toHaveLength(4);
    expect(d.attempts[0].responseBody).toHaveLength(1024);
    expect(d.attempts[0].error).toBeNull();
    clock.advance(24 * 3_600_000);
    await worker.runOnce();
    expect(receiver.requests('/gone')).toHaveLength(4);
    expect(await h.deps.metrics.registry.metrics()).toMatch(
      /kefu_delivery_attempts_total\{outcome="failed"\} [1-9]/,
    );
  });

  it('stretches the delay for Retry-After on 429/503, at most to twice the scheduled one', async () => {
    const t = await tenant();
    await endpoint(t, '/busy');
    receiver.replyOnce(
      '/busy',
      { status: 429, headers: { 'retry-after': '8' } },
      { status: 503, headers: { 'retry-after': '3600' } },
      { status: 500, headers: { 'retry-after': '3600' }, body: 'bin\u0000ary' },
    );
    const eventId = await emit(t);
    const next = async () =>
      new Date((await onlyDelivery(t, eventId)).nextAttemptAt).getTime() - clock.now().getTime();
    await worker.runOnce();
    expect(await next()).toBe(8_000);
    clock.advance(8_000);
    await worker.runOnce();
    expect(await next()).toBe(120_000);
    clock.advance(120_000);
    await worker.runOnce();
    expect(await next()).toBe(600_000);
    const d = await onlyDelivery(t, eventId);
    expect(d.attempts.map((a: Loose) => a.statusCode)).toEqual([429, 503, 500]);
    expect(d.attempts[2].responseBody).toBe('bin\ufffdary');
  });

  it('retries by hand: one more attempt now, whatever the status', async () => {
    const t = await tenant();
    await endpoint(t, '/manual');
    receiver.replyOnce(
      '/manual',
      { status: 500 },
      { status: 500 },
      { status: 500 },
      { status: 500 },
      { status: 500 },
    );
    const eventId = await emit(t);
    for (const wait of [0, 5_000, 60_000, 600_000]) {
      clock.advance(wait);
      await worker.runOnce();
    }
    const failed = await onlyDelivery(t, eventId);
    expect(failed.status).toBe('failed');
    // the route takes no body: a field in one is refused like any unknown field, and nothing is retried
    const withField = await h.request(`/v1/deliveries/${failed.id}/retry`, {
      method: 'POST',
      token: t.apiKey,
      json: { now: true },
    });
    expect(withField.status).toBe(422);
    expect((await json(withField)).errors).toEqual([expect.objectContaining({ path: 'now' })]);
    expect(await onlyDelivery(t, eventId)).toMatchObject({ status: 'failed', attemptCount: 4 });
    const res = await h.request(`/v1/deliveries/${failed.id}/retry`, { method: 'POST', token: t.apiKey });
    expect(res.status).toBe(202);
    expect(await json(res)).toMatchObject({
      status: 'pending',
      nextAttemptAt: clock.now().toISOString(),
      attemptCount: 4,
    });
    await worker.runOnce();
    // the fifth answer is still a 500: one more attempt, then failed again
    expect(await onlyDelivery(t, eventId)).toMatchObject({ status: 'failed', attemptCount: 5 });
    await h.request(`/v1/deliveries/${failed.id}/retry`, { method: 'POST', token: t.apiKey });
    await worker.runOnce();
    const done = await onlyDelivery(t, eventId);
    expect(done).toMatchObject({ status: 'succeeded', attemptCount: 6 });
    await h.request(`/v1/deliveries/${failed.id}/retry`, { method: 'POST', token: t.apiKey });
    await worker.runOnce();
    expect(receiver.requests('/manual')).toHaveLength(7);
  });

  it('replays [since, until): only failed or missing ones by default, every one with onlyFailed false', async () => {
    const t = await tenant();
    const ep = await endpoint(t, '/replay');
    const t0 = clock.now();
    receiver.reply('/replay', { status: 500 });
    const e1 = await emit(t);
    for (const wait of [0, 5_000, 60_000, 600_000]) {
      clock.advance(wait);
      await worker.runOnce();
    }
    receiver.reply('/replay', { status: 200 });
    clock.advance(3_600_000);
    const e2 = await emit(t);
    await worker.runOnce();
    clock.advance(3_600_000);
    const e3 = await emit(t, 'wechat.event');
    await worker.runOnce();
    receiver.reset();

    const replay = (body: unknown) =>
      h.request(`/v1/webhook-endpoints/${ep.id}/replay`, { method: 'POST', json: body, token: t.apiKey });
    const r1 = await replay({ since: t0.toISOString() });
    expect(r1.status).toBe(202);
    expect(await json(r1)).toEqual({ enqueued: 1 });
    await worker.runOnce();
    expect(receiver.requests('/replay').map((r) => r.headers['webhook-id'])).toEqual([e1]);
    expect(await json(replay({ since: t0.toISOString() }))).toEqual({ enqueued: 0 });

    const until = new Date(t0.getTime() + 7_200_000).toISOString();
    const r2 = await json(replay({ since: t0.toISOString(), until, onlyFailed: false }));
    expect(r2).toEqual({ enqueued: 2 });
    receiver.reset();
    await worker.runOnce();
    expect(
      receiver
        .requests('/replay')
        .map((r) => r.headers['webhook-id'])
        .sort(),
    ).toEqual([e1, e2].sort());
    expect(await deliveriesOf(t, `eventId=${e1}`)).toHaveLength(3);
    expect(await deliveriesOf(t, `eventId=${e3}`)).toHaveLength(1);

    // the endpoint's current filter decides what is replayed
    await h.request(`/v1/webhook-endpoints/${ep.id}`, {
      method: 'PATCH',
      json: { eventTypes: ['wechat.event'] },
      token: t.apiKey,
    });
    expect(await json(replay({ since: t0.toISOString(), onlyFailed: false }))).toEqual({ enqueued: 1 });
    await worker.runOnce();

    // a date alone is its 00:00 UTC; a time may stop at the minute
    expect(await json(replay({ since: '2000-01-01', until: '2000-01-02' }))).toEqual({ enqueued: 0 });
    expect(await json(replay({ since: '2000-01-01T00:00Z', until: '2000-01-02T08:00+08:00' }))).toEqual({
      enqueued: 0,
    });

    for (const bad of [
      { since: 'yesterday' },
      { since: '2000-13-01' },
      { since: '0000-01-01' },
      { since: '0001-01-01T00:30:00+01:00' },
      { since: '2000-01-01', until: '0000-06-01T00:00:00Z' },
      { since: t0.toISOString(), until: t0.toISOString() },
      { since: t0.toISOString(), onlyFailed: 'no' },
      { since: t0.toISOString(), limit: 3 },
      {},
    ]) {
      const res = await replay(bad);
      expect(res.status, JSON.stringify(bad)).toBe(422);
    }
    // each says what is wrong: missing, or not a time in a form this API reads
    expect((await json(replay({}))).errors).toEqual([{ path: 'since', message: 'is required' }]);
    expect((await json(replay({ since: 'yesterday' }))).errors).toEqual([
      { path: 'since', message: expect.stringContaining('must be an ISO 8601 date-time') },
    ]);
  });

  it('signs with both secrets for 24 h after a rotation, then with the new one only', async () => {
    // standardwebhooks checks the timestamp against the real clock
    clock.set(Date.now());
    const t = await tenant();
    const ep = await endpoint(t, '/rotate');
    const { secret } = await json(
      h.request(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, { method: 'POST', token: t.apiKey }),
    );
    await emit(t);
    await worker.runOnce();
    const [req] = receiver.requests('/rotate');
    expect(req!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(secret).verify(req!.body, req!.headers)).toBeTruthy();
    expect(new Webhook(ep.secret).verify(req!.body, req!.headers)).toBeTruthy();

    clock.advance(24 * 3_600_000 + 1_000);
    const later = await emit(t);
    await worker.runOnce();
    const last = receiver.requests('/rotate').find((r) => r.headers['webhook-id'] === later)!;
    const ts = new Date(Number(last.headers['webhook-timestamp']) * 1000);
    // the timestamp is a day ahead of the real clock, so compare signatures rather than verify()
    expect(last.headers['webhook-signature']).toBe(new Webhook(secret).sign(later, ts, last.body));
    expect(last.headers['webhook-signature']).not.toContain(
      new Webhook(ep.secret).sign(later, ts, last.body),
    );
  });

  it('keeps every secret rotated away in the last 24 h signing, each until its own expiry', async () => {
    clock.set(Date.now());
    const t = await tenant();
    const ep = await endpoint(t, '/rotate-twice');
    const rotate = async () =>
      (
        await json(
          h.request(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, { method: 'POST', token: t.apiKey }),
        )
      ).secret as string;
    const s1 = await rotate();
    clock.advance(12 * 3_600_000);
    const s2 = await rotate();
    const signedWith = async () => {
      const eventId = await emit(t);
      await worker.runOnce();
      const req = receiver.requests('/rotate-twice').find((r) => r.headers['webhook-id'] === eventId)!;
      const ts = new Date(Number(req.headers['webhook-timestamp']) * 1000);
      const signatures = req.headers['webhook-signature']!.split(' ');
      // every signature is one of the three secrets' (the clock is ahead of the real one: compare, not verify)
      return [ep.secret, s1, s2]
        .map((secret, i) => (signatures.includes(new Webhook(secret).sign(eventId, ts, req.body)) ? i : -1))
        .filter((i) => i >= 0)
        .concat(signatures.length > 3 ? [-1] : []);
    };
    expect(await signedWith()).toEqual([0, 1, 2]);
    clock.advance(12 * 3_600_000 + 1_000); // 24 h after the first rotation
    expect(await signedWith()).toEqual([1, 2]);
    clock.advance(12 * 3_600_000);
    expect(await signedWith()).toEqual([2]);
    // at most five old secrets are kept however often it rotates
    for (let i = 0; i < 7; i++) await rotate();
    const [row] = await h.deps.db.query<{ n: number }>(
      'SELECT jsonb_array_length(previous_secrets) AS n FROM webhook_endpoints WHERE id = $1',
      [ep.id],
    );
    expect(row?.n).toBe(5);
  });

  it('delivers only what an endpoint filters for', async () => {
    const t = await tenant();
    const all = await endpoint(t, '/f-all');
    const sessions = await endpoint(t, '/f-sessions', { eventTypes: ['session.entered', 'wechat.event'] });
    const appB = await endpoint(t, '/f-appb', { appids: ['wxB'] });
    const both = await endpoint(t, '/f-both', { eventTypes: ['session.entered'], appids: ['wxB'] });
    const events = {
      msgA: await emit(t, 'message.received', 'wxA'),
      sessA: await emit(t, 'session.entered', 'wxA'),
      msgB: await emit(t, 'message.received', 'wxB'),
      sessB: await emit(t, 'session.entered', 'wxB'),
    };
    const got = async (id: string) =>
      (await deliveriesOf(t, `endpointId=${id}&limit=100`)).map((d) => d.eventId).sort();
    expect(await got(all.id)).toEqual(Object.values(events).sort());
    expect(await got(sessions.id)).toEqual([events.sessA, events.sessB].sort());
    expect(await got(appB.id)).toEqual([events.msgB, events.sessB].sort());
    expect(await got(both.id)).toEqual([events.sessB]);
    await worker.runOnce();
    expect(receiver.requests('/f-both').map((r) => r.headers['webhook-id'])).toEqual([events.sessB]);
  });

  it("keeps tenants apart: another tenant's endpoints get nothing and its ids are 404", async () => {
    const a = await tenant('A');
    const b = await tenant('B');
    await endpoint(a, '/iso-a');
    await endpoint(b, '/iso-b');
    const eventId = await emit(a);
    await worker.runOnce();
    expect(receiver.requests('/iso-a')).toHaveLength(1);
    expect(receiver.requests('/iso-b')).toHaveLength(0);
    const d = await onlyDelivery(a, eventId);
    expect((await h.request(`/v1/events/${eventId}`, { token: b.apiKey })).status).toBe(404);
    expect((await h.request(`/v1/deliveries/${d.id}`, { token: b.apiKey })).status).toBe(404);
    expect(
      (await h.request(`/v1/deliveries/${d.id}/retry`, { method: 'POST', token: b.apiKey })).status,
    ).toBe(404);
    expect(await deliveriesOf(b, `eventId=${eventId}`)).toEqual([]);
    const bEvents = await json(h.request('/v1/events?limit=100', { token: b.apiKey }));
    expect(bEvents.data).toEqual([]);
  });

  it('lets one hanging endpoint not delay another, nor take more than half the slots', async () => {
    const t = await tenant();
    await endpoint(t, '/hang', { eventTypes: ['message.received'] });
    await endpoint(t, '/fast', { eventTypes: ['wechat.event'] });
    receiver.reply('/hang', { hang: true });
    // four slots: the hanging endpoint's backlog of six may hold two of them
    const live = createDeliveryWorker({ ...h.deps, config: { ...h.deps.config, deliveryConcurrency: 4 } });
    const hung: string[] = [];
    try {
      for (let i = 0; i < 6; i++) hung.push(await emit(t, 'message.received'));
      const eventId = await emit(t, 'wechat.event');
      live.start();
      await receiver.waitFor((r) => r.path === '/fast' && r.headers['webhook-id'] === eventId);
      await waitUntil(async () => (await deliveryStatus(eventId, '/fast')) === 'succeeded');
      await receiver.waitForCount(2, '/hang');
      // done with the fast one while the hanging ones still wait for an answer (timeout: 1 s)
      expect(receiver.requests('/hang')).toHaveLength(2);
      const [attempted] = await h.deps.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = ANY($1::text[])',
        [hung],
      );
      expect(attempted?.n).toBe(0);
    } finally {
      await live.stop(Date.now() + 3_000);
      receiver.reply('/hang', { status: 200 });
    }
    const [first] = await deliveriesOf(t, `eventId=${hung[0]}`);
    expect(first?.attempts[0].error).toMatch(/timed out after 1000 ms/);
  });

  it('lets two hanging endpoints not starve a third: with k busy, each holds at most 1/(k+1) of the slots', async () => {
    const t = await tenant();
    await endpoint(t, '/hang-a', { eventTypes: ['message.received'] });
    await endpoint(t, '/hang-b', { eventTypes: ['session.entered'] });
    await endpoint(t, '/third', { eventTypes: ['wechat.event'] });
    receiver.reply('/hang-a', { hang: true });
    receiver.reply('/hang-b', { hang: true });
    // four slots, half each at most: before, the two hanging backlogs (older than the third's event) held all
    const live = createDeliveryWorker({ ...h.deps, config: { ...h.deps.config, deliveryConcurrency: 4 } });
    const hung: string[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        hung.push(await emit(t, 'message.received'), await emit(t, 'session.entered'));
        clock.advance(10); // oldest first, every hanging one comes before the third
      }
      const eventId = await emit(t, 'wechat.event');
      live.start();
      await receiver.waitFor((r) => r.path === '/third' && r.headers['webhook-id'] === eventId);
      // it arrived while the hanging ones still wait for an answer (timeout: 1 s): none of them is recorded yet
      const [attempted] = await h.deps.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = ANY($1::text[])',
        [hung],
      );
      expect(attempted?.n).toBe(0);
      expect(receiver.requests('/hang-a').length + receiver.requests('/hang-b').length).toBeLessThanOrEqual(
        3,
      );
    } finally {
      await live.stop(Date.now() + 3_000);
      receiver.reply('/hang-a', { status: 200 });
      receiver.reply('/hang-b', { status: 200 });
    }
  });

  it('at the shutdown deadline gives back the unanswered deliveries: no attempt recorded, no lease to wait out', async () => {
    const t = await tenant();
    await endpoint(t, '/cut');
    receiver.reply('/cut', { hang: true });
    const live = createDeliveryWorker(h.deps);
    const eventId = await emit(t);
    live.start();
    await receiver.waitForCount(1, '/cut');
    await live.stop(Date.now() + 100);
    const [row] = await h.deps.db.query<{ status: string; attempt_count: number; lease_until: Date | null }>(
      'SELECT status, attempt_count, lease_until FROM deliveries WHERE event_id = $1',
      [eventId],
    );
    expect(row).toEqual({ status: 'pending', attempt_count: 0, lease_until: null });
    const [attempts] = await h.deps.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = $1',
      [eventId],
    );
    expect(attempts?.n).toBe(0);
    // the next worker takes it at once, as attempt 1
    receiver.reply('/cut', { status: 204 });
    await worker.runOnce();
    const [d] = await deliveriesOf(t, `eventId=${eventId}`);
    expect([d?.status, d?.attemptCount, d?.attempts.length]).toEqual(['succeeded', 1, 1]);
  });

  it('sends one endpoint at most DELIVERY_CONCURRENCY_PER_ENDPOINT requests at a time', async () => {
    const t = await tenant();
    await endpoint(t, '/one-at-a-time');
    receiver.reply('/one-at-a-time', { hang: true });
    const live = createDeliveryWorker({
      ...h.deps,
      config: { ...h.deps.config, deliveryConcurrency: 8, deliveryConcurrencyPerEndpoint: 1 },
    });
    try {
      for (let i = 0; i < 3; i++) await emit(t);
      live.start();
      await receiver.waitForCount(1, '/one-at-a-time');
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.requests('/one-at-a-time')).toHaveLength(1);
    } finally {
      await live.stop(Date.now() + 3_000);
      receiver.reply('/one-at-a-time', { status: 200 });
    }
  });

  it('is woken by NOTIFY without waiting for the poll', async () => {
    const t = await tenant();
    await endpoint(t, '/woken');
    const live = createDeliveryWorker(h.deps, { pollIntervalMs: 600_000 });
    live.start();
    try {
      // the first pump at start finds nothing; only the notification can bring the next one
      await new Promise((r) => setTimeout(r, 50));
      const eventId = await emit(t);
      const req = await receiver.waitFor((r) => r.path === '/woken', 3_000);
      expect(req.headers['webhook-id']).toBe(eventId);
    } finally {
      await live.stop(Date.now() + 2_000);
    }
  });

  it('drains a backlog for one endpoint past its cap without NOTIFY or the poll, recording every attempt', async () => {
    const t = await tenant();
    await endpoint(t, '/backlog');
    // eight slots, four per endpoint: 40 queued need many refills beyond the claim made at start
    const n = 40;
    const { eventIds } = await h.deps.db.transaction((q) =>
      enqueueEvents(
        q,
        Array.from({ length: n }, (_, i) => ({
          tenantId: t.tenantId,
          appid: 'wxapp1',
          type: 'message.received' as const,
          data: { openid: `o${i}` },
        })),
        clock.now(),
      ),
    );
    const live = createDeliveryWorker(
      { ...h.deps, config: { ...h.deps.config, deliveryConcurrency: 8 } },
      { pollIntervalMs: 3_600_000 },
    );
    live.start();
    try {
      // no notifyDeliveries(): after the first claim only finished attempts can bring the rest
      await receiver.waitForCount(n, '/backlog', 5_000);
      await waitUntil(async () => {
        const [row] = await h.deps.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM deliveries WHERE event_id = ANY($1::text[]) AND status = 'succeeded'`,
          [eventIds],
        );
        return row?.n === n;
      }, 5_000);
    } finally {
      await live.stop(Date.now() + 2_000);
    }
    expect(new Set(receiver.requests('/backlog').map((r) => r.headers['webhook-id']))).toEqual(
      new Set(eventIds),
    );
    const [attempts] = await h.deps.db.query<{ n: number; ok: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE a.status_code = 200)::int AS ok
       FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = ANY($1::text[])`,
      [eventIds],
    );
    expect(attempts).toEqual({ n, ok: n });
  });

  it("claims for every endpoint with due rows, however long another endpoint's older backlog is", async () => {
    const t = await tenant();
    const busy = await endpoint(t, '/long-backlog');
    const quiet = await endpoint(t, '/one-row', { eventTypes: ['wechat.event'] });
    // 1,500 older rows of one endpoint (the quiet one does not take message.received), then one row for the other
    await h.deps.db.transaction((q) =>
      enqueueEvents(
        q,
        Array.from({ length: 1_500 }, (_, i) => ({
          tenantId: t.tenantId,
          appid: 'wxapp1',
          type: 'message.received' as const,
          data: { openid: `o${i}` },
        })),
        clock.now(),
      ),
    );
    clock.advance(1_000);
    const late = await emit(t, 'wechat.event');
    const now = clock.now();
    const claim = (token: string, endpoints?: string[]) =>
      claimDue(h.deps.db.query, {
        now,
        leaseUntil: new Date(now.getTime() + 60_000),
        token,
        limit: 20,
        perEndpointCap: 10,
        ...(endpoints ? { endpoints, discover: false } : {}),
      });
    const found = await claim('discovering');
    expect(found.filter((j) => j.endpoint_id === busy.id)).toHaveLength(10);
    expect(found.filter((j) => j.endpoint_id === quiet.id).map((j) => j.event_id)).toEqual([late]);
    // named endpoints only: the busy one's next ten, oldest first
    const named = await claim('named', [busy.id]);
    expect(named.map((j) => j.endpoint_id)).toEqual(Array(10).fill(busy.id));
    expect(named.every((j) => !found.some((f) => f.id === j.id))).toBe(true);
    await h.deps.db.query(`DELETE FROM deliveries WHERE endpoint_id = ANY($1::text[])`, [
      [busy.id, quiet.id],
    ]);
  });

  it('takes leases of at most 20 s and renews them while a long attempt runs (DELIVERY_TIMEOUT_MS 60 s)', async () => {
    // its own clock: moving the shared one would make other tests' retries due
    const clock = new ManualClock(Date.now());
    const slow = await createHarness({ env: { ...ENV, DELIVERY_TIMEOUT_MS: '60000' }, clock });
    const w = createDeliveryWorker(slow.deps, { random: () => 0.5, leaseRenewIntervalMs: 50 });
    try {
      const t = await createTenantWithKey(slow, 'Slow');
      const created = await slow.request('/v1/webhook-endpoints', {
        method: 'POST',
        json: { url: receiver.urlFor('/slow') },
        token: t.apiKey,
      });
      expect(created.status).toBe(201);
      receiver.reply('/slow', { status: 200, delayMs: 1_500 });
      await slow.deps.db.transaction((q) =>
        enqueueEvents(
          q,
          [{ tenantId: t.tenantId, appid: 'wxapp1', type: 'message.received', data: {} }],
          clock.now(),
        ),
      );
      const leaseLeft = async () => {
        const [row] = await slow.deps.db.query<{ lease_until: Date | null }>(
          'SELECT lease_until FROM deliveries WHERE tenant_id = $1',
          [t.tenantId],
        );
        return row?.lease_until ? row.lease_until.getTime() - clock.now().getTime() : null;
      };
      w.start();
      await receiver.waitFor((r) => r.path === '/slow');
      expect(await leaseLeft()).toBe(20_000);
      clock.advance(15_000);
      await expect.poll(leaseLeft, { timeout: 1_000, interval: 20 }).toBe(20_000);
      // nobody else may take it meanwhile
      expect(
        await claimDue(slow.deps.db.query, {
          now: clock.now(),
          leaseUntil: new Date(clock.now().getTime() + 20_000),
          token: 'other',
          limit: 10,
        }),
      ).toEqual([]);
      await expect.poll(leaseLeft, { timeout: 5_000, interval: 50 }).toBeNull();
      expect(receiver.requests('/slow')).toHaveLength(1);
    } finally {
      await w.stop(Date.now() + 2_000);
      await slow.close();
    }
  });

  it.runIf(onPostgres)(
    'fails every pending delivery of an endpoint it disables, one whose outcome was being written meanwhile too',
    async () => {
      // The race: one attempt's outcome disables the endpoint and fails its pending deliveries, while another
      // attempt's outcome statement, begun before the disable (it reads the endpoint as enabled), commits after
      // that sweep, leaving its delivery pending. Here that statement waits on a row lock of a second session.
      const t = await tenant();
      const ep = await endpoint(t, '/race');
      receiver.reply('/race', { status: 500 });
      await emit(t);
      await worker.runOnce();
      clock.advance(61 * 60_000); // failing for longer than ENDPOINT_DISABLE_AFTER
      receiver.replyOnce('/race', { status: 500 }, { status: 500, delayMs: 300 });
      await emit(t);

      const lockDb = await openDatabase({ url: h.database.url, poolMax: 1 });
      let release = () => {};
      const released = new Promise<void>((r) => {
        release = r;
      });
      let holding: Promise<unknown> = Promise.resolve();
      let markBegun = () => {};
      const secondBegun = new Promise<void>((r) => {
        markBegun = r;
      });
      let ours = 0;
      let sweeps = 0;
      const query: typeof h.deps.db.query = async (text, params = []) => {
        if (text.includes('done AS (')) {
          const ids = params[0] as string[];
          const endpoints = params[13] as string[];
          const mine = ids.filter((_, i) => endpoints[i] === ep.id);
          if (mine.length > 0 && ++ours === 2) {
            let locked = () => {};
            const isLocked = new Promise<void>((r) => {
              locked = r;
            });
            holding = lockDb.transaction(async (q) => {
              await q('SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE', [mine[0]]);
              locked();
              await released;
            });
            await isLocked;
            const result = h.deps.db.query(text, params);
            setTimeout(markBegun, 150); // it has taken its snapshot and waits for the lock
            return result as never;
          }
        }
        if (text.startsWith('UPDATE webhook_endpoints SET enabled = false') && params[0] === ep.id) {
          await secondBegun;
        }
        if (text.startsWith("UPDATE deliveries SET status = 'failed'") && params[0] === ep.id) {
          const result = await h.deps.db.query(text, params);
          if (++sweeps === 1) release();
          return result as never;
        }
        return h.deps.db.query(text, params);
      };
      const racing = createDeliveryWorker({ ...h.deps, db: { ...h.deps.db, query } }, { random: () => 0.5 });
      try {
        await racing.runOnce();
      } finally {
        await racing.stop(Date.now() + 1_000);
        release();
        await holding;
        await lockDb.close();
      }
      expect(ours).toBe(2);
      const read = await json(h.request(`/v1/webhook-endpoints/${ep.id}`, { token: t.apiKey }));
      expect(read.enabled).toBe(false);
      expect(await deliveriesOf(t, `endpointId=${ep.id}&status=pending`)).toEqual([]);
      expect(sweeps).toBe(2);
    },
  );

  it("sweeping a disabled endpoint's pending deliveries leaves them alone once it is enabled again", async () => {
    // the disabling worker sweeps a second time after its running attempts end: by then it may be enabled again
    const t = await tenant();
    const ep = await endpoint(t, '/enabled-again');
    const eventId = await emit(t);
    await failPendingDeliveries(h.deps.db.query, ep.id, clock.now());
    expect(await onlyDelivery(t, eventId)).toMatchObject({ status: 'pending' });
    await h.request(`/v1/webhook-endpoints/${ep.id}`, {
      method: 'PATCH',
      json: { enabled: false },
      token: t.apiKey,
    });
    expect(await onlyDelivery(t, eventId)).toMatchObject({ status: 'failed' });
  });

  it('writes an outcome again through a dropped connection: one request, one attempt row', async () => {
    const t = await tenant();
    await endpoint(t, '/flaky-db');
    const eventId = await emit(t);
    let failed = 0;
    const query: typeof h.deps.db.query = async (text, params) => {
      // the statement that records outcomes (a claim may write lost attempts, but has no `done` step)
      if (failed === 0 && text.includes('INSERT INTO delivery_attempts') && text.includes('done AS (')) {
        failed++;
        throw Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
      }
      return h.deps.db.query(text, params);
    };
    const flaky = createDeliveryWorker({ ...h.deps, db: { ...h.deps.db, query } }, { random: () => 0.5 });
    await flaky.runOnce();
    expect(failed).toBe(1);
    expect(receiver.requests('/flaky-db')).toHaveLength(1);
    const d = await onlyDelivery(t, eventId);
    expect(d).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(d.attempts).toHaveLength(1);
  });

  it('gives a job whose worker died to another worker once the lease expires', async () => {
    const t = await tenant();
    await endpoint(t, '/crash');
    const eventId = await emit(t);
    const now = clock.now();
    // a worker claims it and dies before posting
    const [job] = await claimDue(h.deps.db.query, {
      now,
      leaseUntil: new Date(now.getTime() + 6_000),
      token: 'dead-worker',
      limit: 100,
    });
    expect(job?.event_id).toBe(eventId);
    const other = createDeliveryWorker(h.deps, { random: () => 0.5 });
    clock.advance(5_000);
    await other.runOnce();
    expect(receiver.requests('/crash')).toHaveLength(0);
    clock.advance(1_001);
    await other.runOnce();
    expect(receiver.requests('/crash').map((r) => r.headers['webhook-id'])).toEqual([eventId]);
    const d = await onlyDelivery(t, eventId);
    expect(d).toMatchObject({ status: 'succeeded', attemptCount: 2 });
    // the dead worker's attempt is on record, as one whose outcome nobody knows; attemptCount agrees
    const read = await json(h.request(`/v1/deliveries/${d.id}`, { token: t.apiKey }));
    expect(read.attempts).toHaveLength(2);
    expect(read.attempts[0]).toMatchObject({
      at: now.toISOString(),
      statusCode: null,
      durationMs: 6_000,
      error: expect.stringContaining('did not finish it within its lease'),
    });
    const ids = await h.deps.db.query<{ id: string; attempt: number }>(
      'select id, attempt from delivery_attempts where delivery_id = $1 order by attempt',
      [d.id],
    );
    expect(ids.map((r) => r.attempt)).toEqual([1, 2]);
    expect(ids[0]?.id).toMatch(/^att_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(read.attempts[1]).toMatchObject({ statusCode: 200 });
    // the dead worker coming back cannot move the reclaimed job
    const stale = await recordAttempt(h.deps.db.query, {
      deliveryId: d.id,
      token: 'dead-worker',
      endpointId: d.endpointId,
      attemptId: 'att_00000000000000000000000000',
      attempt: 1,
      at: now,
      statusCode: 500,
      durationMs: 1,
      error: null,
      responseBody: null,
      status: 'pending',
      nextAttemptAt: clock.now(),
      now: clock.now(),
      health: null,
    });
    expect(stale.applied).toBe(false);
    expect(await onlyDelivery(t, eventId)).toMatchObject({ status: 'succeeded' });
    // its outcome replaces the placeholder of its attempt: still one row per attempt
    const after = await json(h.request(`/v1/deliveries/${d.id}`, { token: t.apiKey }));
    expect(after.attempts.map((a: Loose) => a.statusCode)).toEqual([500, 200]);
    await other.stop(Date.now() + 1_000);
  });

  it('disables an endpoint that failed everything for ENDPOINT_DISABLE_AFTER', async () => {
    const t = await tenant();
    const ep = await endpoint(t, '/down');
    receiver.reply('/down', { status: 500 });
    await emit(t);
    await worker.runOnce();
    clock.advance(30 * 60_000);
    await emit(t);
    await worker.runOnce();
    expect((await json(h.request(`/v1/webhook-endpoints/${ep.id}`, { token: t.apiKey }))).enabled).toBe(true);
    clock.advance(30 * 60_000);
    const queued = await emit(t);
    await worker.runOnce();
    const read = await json(h.request(`/v1/webhook-endpoints/${ep.id}`, { token: t.apiKey }));
    expect(read.enabled).toBe(false);
    expect(read.disabledReason).toMatch(/every attempt failed since/);
    expect(await h.deps.metrics.registry.getSingleMetricAsString('kefu_endpoint_disables_total')).toMatch(
      / [1-9]\d*$/m,
    );
    expect(await deliveriesOf(t, `endpointId=${ep.id}&status=pending`)).toEqual([]);
    const sent = receiver.requests('/down').length;
    const after = await emit(t);
    expect(await deliveriesOf(t, `eventId=${after}`)).toEqual([]);
    clock.advance(24 * 3_600_000);
    await worker.runOnce();
    expect(receiver.requests('/down')).toHaveLength(sent);
    // re-enabled and replayed, the failed ones go out again
    receiver.reply('/down', { status: 204 });
    await h.request(`/v1/webhook-endpoints/${ep.id}`, {
      method: 'PATCH',
      json: { enabled: true },
      token: t.apiKey,
    });
    const { enqueued } = await json(
      h.request(`/v1/webhook-endpoints/${ep.id}/replay`, {
        method: 'POST',
        json: { since: new Date(0).toISOString() },
        token: t.apiKey,
      }),
    );
    expect(enqueued).toBe(4);
    await worker.runOnce();
    expect((await deliveriesOf(t, `eventId=${queued}`)).map((d) => d.status).sort()).toEqual([
      'failed',
      'succeeded',
    ]);
  });

  it('keeps the queue gauges', async () => {
    const t = await tenant();
    await endpoint(t, '/gauge');
    await emit(t);
    clock.advance(2_000);
    await createQueueStatsJob(h.deps).runOnce();
    expect(await h.deps.metrics.registry.getSingleMetricAsString('kefu_delivery_queue_depth')).toMatch(
      / [1-9]\d*$/m,
    );
    expect(
      await h.deps.metrics.registry.getSingleMetricAsString('kefu_delivery_queue_oldest_due_age_seconds'),
    ).toMatch(/ ([2-9]|\d\d+)(\.\d+)?$/m);
    await worker.runOnce();
  });

  it("reports this process's clock against the database's, and warns past 2 s", async () => {
    const skew = async (deps: TestHarness['deps']) => {
      await createQueueStatsJob(deps).runOnce();
      const text = await deps.metrics.registry.getSingleMetricAsString('kefu_clock_skew_seconds');
      return Number(/ (-?[\d.e+-]+)$/m.exec(text)?.[1]);
    };
    const aheadClock = new ManualClock(Date.now());
    const ahead = await createHarness({ clock: aheadClock, logLevel: 'info' });
    try {
      aheadClock.set(Date.now() + 30_000); // a manual clock stands still: set it just before the measure
      expect(Math.abs((await skew(ahead.deps)) - 30)).toBeLessThan(2);
      expect(ahead.logs.text).toContain("this process's clock disagrees with the database's");
    } finally {
      await ahead.close();
    }
    const inSync = await createHarness({ logLevel: 'info' });
    try {
      expect(Math.abs(await skew(inSync.deps))).toBeLessThan(2);
      expect(inSync.logs.text).not.toContain('disagrees');
    } finally {
      await inSync.close();
    }
  });
});

describe('events and deliveries API', () => {
  it('lists events newest first, filtered by appid and type, and pages them', async () => {
    const t = await tenant();
    const ids = [
      await emit(t, 'message.received', 'wxL1'),
      await emit(t, 'session.entered', 'wxL1'),
      await emit(t, 'message.received', 'wxL2'),
    ];
    const all = await json(h.request('/v1/events', { token: t.apiKey }));
    expect(all.data.map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
    expect(Object.keys(all.data[0]).sort()).toEqual(['appid', 'createdAt', 'data', 'id', 'type']);
    const byApp = await json(h.request('/v1/events?appid=wxL1', { token: t.apiKey }));
    expect(byApp.data.map((e: { id: string }) => e.id)).toEqual([ids[1], ids[0]]);
    const byType = await json(h.request('/v1/events?type=message.received&appid=wxL2', { token: t.apiKey }));
    expect(byType.data.map((e: { id: string }) => e.id)).toEqual([ids[2]]);
    const p1 = await json(h.request('/v1/events?limit=2', { token: t.apiKey }));
    const p2 = await json(h.request(`/v1/events?limit=2&cursor=${p1.nextCursor}`, { token: t.apiKey }));
    expect([...p1.data, ...p2.data].map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
    expect(p2.nextCursor).toBeNull();
    // an events cursor is no cursor of another list, nor another list's of this one
    const deliveries = await h.request(`/v1/deliveries?cursor=${p1.nextCursor}`, { token: t.apiKey });
    expect(deliveries.status).toBe(422);
    expect((await json(deliveries)).errors).toEqual([
      expect.objectContaining({ path: 'cursor', message: 'is not a cursor this list issued' }),
    ]);
    expect(
      (await h.request(`/v1/webhook-endpoints?cursor=${p1.nextCursor}`, { token: t.apiKey })).status,
    ).toBe(422);
    expect((await h.request('/v1/events?type=message.sent', { token: t.apiKey })).status).toBe(422);
    expect((await h.request('/v1/events?appid=bad%20id', { token: t.apiKey })).status).toBe(422);
    expect((await h.request('/v1/events/evt_nope', { token: t.apiKey })).status).toBe(404);
  });

  it('lists deliveries by event, endpoint and status', async () => {
    const t = await tenant();
    const ok = await endpoint(t, '/list-ok');
    const bad = await endpoint(t, '/list-bad');
    receiver.reply('/list-bad', { status: 500 });
    const eventId = await emit(t);
    await worker.runOnce();
    const byEvent = await deliveriesOf(t, `eventId=${eventId}`);
    expect(byEvent).toHaveLength(2);
    expect(await deliveriesOf(t, `endpointId=${ok.id}&status=succeeded`)).toMatchObject([{ eventId }]);
    expect(await deliveriesOf(t, `endpointId=${bad.id}&status=pending`)).toMatchObject([
      { eventId, attemptCount: 1 },
    ]);
    expect(await deliveriesOf(t, `endpointId=${ok.id}&status=failed`)).toEqual([]);
    expect((await h.request('/v1/deliveries?status=done', { token: t.apiKey })).status).toBe(422);
    expect((await h.request('/v1/deliveries/dlv_nope', { token: t.apiKey })).status).toBe(404);
    expect(
      (await h.request('/v1/deliveries/dlv_nope/retry', { method: 'POST', token: t.apiKey })).status,
    ).toBe(404);
  });
});
