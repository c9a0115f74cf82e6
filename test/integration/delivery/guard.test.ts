import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { enqueueEvents } from '../../../src/delivery/outbox.js';
import { createDeliveryWorker } from '../../../src/delivery/worker.js';
import { createHarness, createTenantWithKey, type TestHarness } from '../../helpers/app.js';
import { json } from '../../helpers/http.js';
import { startReceiver, type TestReceiver } from '../../helpers/receiver.js';

// Private networks are NOT allowed here: the receiver on 127.0.0.1 stands for an internal service that a
// webhook URL must never reach, however its name resolves by the time of delivery.
let h: TestHarness;
let receiver: TestReceiver;
let tenant: { tenantId: string; apiKey: string };
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  h = await createHarness({
    env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', DELIVERY_TIMEOUT_MS: '2000' },
    clock,
  });
  receiver = await startReceiver();
  tenant = await createTenantWithKey(h, 'Guarded');
});
afterAll(async () => {
  await receiver.close();
  await h.close();
});

/** An endpoint accepted at creation (a public address), whose URL then points elsewhere (as DNS can change). */
async function endpointLaterAt(url: string): Promise<string> {
  const res = await h.request('/v1/webhook-endpoints', {
    method: 'POST',
    json: { url: 'https://93.184.216.34/hook' },
    token: tenant.apiKey,
  });
  expect(res.status).toBe(201);
  const { id } = await json(res);
  await h.deps.db.query('UPDATE webhook_endpoints SET url = $2 WHERE id = $1', [id, url]);
  return id;
}

async function deliverOnce(endpointId: string, worker = createDeliveryWorker(h.deps, { random: () => 0.5 })) {
  const { eventIds } = await h.deps.db.transaction((q) =>
    enqueueEvents(
      q,
      [{ tenantId: tenant.tenantId, appid: 'wxg', type: 'wechat.event', data: {} }],
      clock.now(),
    ),
  );
  await worker.runOnce();
  await worker.stop(Date.now() + 1_000);
  const list = await json(
    h.request(`/v1/deliveries?eventId=${eventIds[0]}&endpointId=${endpointId}`, { token: tenant.apiKey }),
  );
  return list.data[0];
}

describe('private-network guard at delivery time', () => {
  it('refuses a name that now resolves to loopback (localhost), sending nothing', async () => {
    const id = await endpointLaterAt(receiver.urlFor('/internal').replace('127.0.0.1', 'localhost'));
    const d = await deliverOnce(id);
    expect(d).toMatchObject({ status: 'pending', attemptCount: 1 });
    expect(d.attempts[0]).toMatchObject({ statusCode: null });
    expect(d.attempts[0].error).toMatch(/^refused: localhost resolves to a loopback address/);
    expect(receiver.requests()).toHaveLength(0);
  });

  it('refuses literal private addresses in every spelling', async () => {
    for (const url of [
      receiver.urlFor('/literal'),
      'http://169.254.169.254/latest/meta-data/',
      `http://[::ffff:127.0.0.1]:${new URL(receiver.url).port}/mapped`,
      'http://10.0.0.8/',
    ]) {
      const d = await deliverOnce(await endpointLaterAt(url));
      expect(d.attempts[0].error, url).toMatch(/^refused: .* address/);
      expect(d.attempts[0].durationMs).toBe(0);
    }
    expect(receiver.requests()).toHaveLength(0);
  });

  it('checks the address the connection actually uses (no DNS rebinding)', async () => {
    let lookups = 0;
    // the name looked public when the endpoint was made; at connect time it answers with loopback
    const rebinding = async (host: string) => {
      lookups++;
      return host === 'hooks.rebind.test' ? [{ address: '127.0.0.1', family: 4 }] : [];
    };
    const id = await endpointLaterAt(`http://hooks.rebind.test:${new URL(receiver.url).port}/rebind`);
    const d = await deliverOnce(id, createDeliveryWorker(h.deps, { resolve: rebinding }));
    expect(lookups).toBeGreaterThan(0);
    expect(d.attempts[0].error).toMatch(/^refused: hooks\.rebind\.test resolves to a loopback address/);
    expect(receiver.requests()).toHaveLength(0);
  });
});
