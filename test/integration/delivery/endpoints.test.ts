import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueEvents } from '../../../src/delivery/outbox.js';
import { createHarness, createTenantWithKey, type TestHarness } from '../../helpers/app.js';
import { json } from '../../helpers/http.js';

let h: TestHarness;
let guarded: TestHarness;
let key: string;
let otherKey: string;
let tenantId: string;

beforeAll(async () => {
  h = await createHarness();
  guarded = await createHarness({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' } });
  ({ apiKey: key, tenantId } = await createTenantWithKey(h, 'Endpoints'));
  ({ apiKey: otherKey } = await createTenantWithKey(h, 'Other'));
});
afterAll(async () => {
  await h.close();
  await guarded.close();
});

const create = (body: unknown, token = key, harness = h) =>
  harness.request('/v1/webhook-endpoints', { method: 'POST', json: body, token });

describe('webhook endpoints API', () => {
  it('creates an endpoint with a whsec_ secret shown once, stored encrypted', async () => {
    const res = await create({
      url: 'https://hooks.example.com/kefu',
      description: 'main',
      eventTypes: ['message.received'],
    });
    expect(res.status).toBe(201);
    const ep = await json(res);
    expect(ep).toMatchObject({
      id: expect.stringMatching(/^wep_/),
      url: 'https://hooks.example.com/kefu',
      description: 'main',
      eventTypes: ['message.received'],
      appids: null,
      enabled: true,
      disabledReason: null,
    });
    expect(ep.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const [row] = await h.deps.db.query<{ secret_enc: string }>(
      'SELECT secret_enc FROM webhook_endpoints WHERE id = $1',
      [ep.id],
    );
    expect(row?.secret_enc).not.toContain(ep.secret.slice(6));
    expect(h.deps.secrets.decrypt(row!.secret_enc)).toBe(ep.secret);
    const read = await json(h.request(`/v1/webhook-endpoints/${ep.id}`, { token: key }));
    expect(read.secret).toBeUndefined();
    expect(read).toEqual({ ...ep, secret: undefined });
    expect(h.logs.text).not.toContain(ep.secret.slice(6));
  });

  it('lists newest first with a cursor', async () => {
    const { apiKey } = await createTenantWithKey(h, 'Lister');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await json(create({ url: `https://h.example.com/${i}` }, apiKey))).id);
    const first = await json(h.request('/v1/webhook-endpoints?limit=2', { token: apiKey }));
    expect(first.data.map((e: { id: string }) => e.id)).toEqual([ids[2], ids[1]]);
    const second = await json(
      h.request(`/v1/webhook-endpoints?limit=2&cursor=${first.nextCursor}`, { token: apiKey }),
    );
    expect(second).toMatchObject({ data: [{ id: ids[0] }], nextCursor: null });
    expect((await h.request('/v1/webhook-endpoints?limit=0', { token: apiKey })).status).toBe(422);
    expect((await h.request('/v1/webhook-endpoints?cursor=zzz', { token: apiKey })).status).toBe(422);
  });

  it('refuses bad input with 422 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ url: 'ftp://example.com/' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: `https://example.com/${'a'.repeat(2050)}` }, 'url'],
      [{ url: 'https://example.com/', eventTypes: ['message.sent'] }, 'eventTypes.0'],
      [{ url: 'https://example.com/', eventTypes: [] }, 'eventTypes'],
      [{ url: 'https://example.com/', appids: ['bad appid!'] }, 'appids.0'],
      [{ url: 'https://example.com/', extra: 1 }, 'extra'],
      [{ url: 123 }, 'url'],
      [{ url: 'https://example.com/', description: 'x'.repeat(1001) }, 'description'],
      [{}, 'url'],
    ];
    for (const [body, path] of cases) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(422);
      const problem = await json(res);
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
  });

  it('refuses text PostgreSQL cannot store with 422 on every route of this capability', async () => {
    const { id } = await json(create({ url: 'https://example.com/nul' }));
    const cases: Array<[string, string, unknown, string]> = [
      [
        'POST',
        '/v1/webhook-endpoints',
        { url: 'https://example.com/', description: 'a\u0000b' },
        'description',
      ],
      ['POST', '/v1/webhook-endpoints', { url: 'https://example.com/a\u0000b' }, 'url'],
      ['PATCH', `/v1/webhook-endpoints/${id}`, { description: 'lone \udc00' }, 'description'],
      ['GET', '/v1/webhook-endpoints/wep%00x', undefined, 'id'],
      ['GET', '/v1/events/evt%00x', undefined, 'id'],
      ['GET', '/v1/deliveries/dlv%00x', undefined, 'id'],
      ['POST', '/v1/deliveries/dlv%00x/retry', undefined, 'id'],
      ['GET', '/v1/deliveries?eventId=a%00b', undefined, 'eventId'],
      ['GET', '/v1/deliveries?endpointId=%00', undefined, 'endpointId'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await h.request(path, {
        method,
        token: key,
        ...(body === undefined ? {} : { json: body }),
      });
      expect(res.status, `${method} ${path}`).toBe(422);
      const problem = await json(res);
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors.map((e: { path: string }) => e.path)).toEqual([field]);
    }
    const stored = await json(h.request(`/v1/webhook-endpoints/${id}`, { token: key }));
    expect(stored.description).toBe('');
  });

  it('refuses private-network URLs at creation and update unless allowed', async () => {
    const { apiKey } = await createTenantWithKey(guarded, 'Guarded');
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost:8080/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://10.1.2.3/',
      'http://100.64.0.1/',
      'http://192.168.0.10/',
      'http://[fd00::1]/',
      'http://0.0.0.0/',
      'http://2130706433/',
    ]) {
      const res = await create({ url }, apiKey, guarded);
      expect(res.status, url).toBe(422);
      expect((await json(res)).errors[0].path).toBe('url');
    }
    const ok = await create({ url: 'https://93.184.216.34/hook' }, apiKey, guarded);
    expect(ok.status).toBe(201);
    const id = (await json(ok)).id;
    const patch = await guarded.request(`/v1/webhook-endpoints/${id}`, {
      method: 'PATCH',
      json: { url: 'http://127.0.0.1/x' },
      token: apiKey,
    });
    expect(patch.status).toBe(422);
    // allowed on the harness that permits private networks (tests, sandbox)
    expect((await create({ url: 'http://127.0.0.1:8080/hook' })).status).toBe(201);
  });

  it('changes fields; re-enabling clears disabledReason and the failing run', async () => {
    const ep = await json(create({ url: 'https://example.com/a', appids: ['wxa'] }));
    const res = await h.request(`/v1/webhook-endpoints/${ep.id}`, {
      method: 'PATCH',
      json: { url: 'https://example.com/b', description: 'd', eventTypes: ['wechat.event'], appids: null },
      token: key,
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      url: 'https://example.com/b',
      description: 'd',
      eventTypes: ['wechat.event'],
      appids: null,
      enabled: true,
    });
    await h.deps.db.query(
      `UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'every attempt failed', failing_since = now() WHERE id = $1`,
      [ep.id],
    );
    const off = await json(h.request(`/v1/webhook-endpoints/${ep.id}`, { token: key }));
    expect(off).toMatchObject({ enabled: false, disabledReason: 'every attempt failed' });
    const on = await json(
      h.request(`/v1/webhook-endpoints/${ep.id}`, { method: 'PATCH', json: { enabled: true }, token: key }),
    );
    expect(on).toMatchObject({ enabled: true, disabledReason: null, eventTypes: ['wechat.event'] });
    const [row] = await h.deps.db.query<{ failing_since: Date | null }>(
      'SELECT failing_since FROM webhook_endpoints WHERE id = $1',
      [ep.id],
    );
    expect(row?.failing_since).toBeNull();
    const bad = await h.request(`/v1/webhook-endpoints/${ep.id}`, {
      method: 'PATCH',
      json: { enabled: 'yes' },
      token: key,
    });
    expect(bad.status).toBe(422);
  });

  it('disabling by hand fails the pending deliveries', async () => {
    const ep = await json(create({ url: 'https://example.com/pending' }));
    const { eventIds } = await h.deps.db.transaction((q) =>
      enqueueEvents(q, [{ tenantId, appid: 'wxp', type: 'wechat.event', data: {} }], h.clock.now()),
    );
    await h.request(`/v1/webhook-endpoints/${ep.id}`, {
      method: 'PATCH',
      json: { enabled: false },
      token: key,
    });
    const list = await json(h.request(`/v1/deliveries?endpointId=${ep.id}`, { token: key }));
    expect(list.data).toMatchObject([{ eventId: eventIds[0], status: 'failed', nextAttemptAt: null }]);
  });

  it('rotates the secret and deletes', async () => {
    const ep = await json(create({ url: 'https://example.com/rot' }));
    // no body, or an empty one; a field is refused (bodies are typed strictly), and nothing rotates
    const withField = await h.request(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      method: 'POST',
      token: key,
      json: { overlapHours: 1 },
    });
    expect(withField.status).toBe(422);
    expect((await json(withField)).errors).toEqual([expect.objectContaining({ path: 'overlapHours' })]);
    const [row] = await h.deps.db.query<{ secret_enc: string }>(
      'select secret_enc from webhook_endpoints where id = $1',
      [ep.id],
    );
    expect(h.deps.secrets.decrypt(row!.secret_enc)).toBe(ep.secret);
    const notAnObject = await h.request(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      method: 'POST',
      token: key,
      json: [1],
    });
    expect(notAnObject.status).toBe(422);
    // what clients send for "nothing" is fine: an empty body under any Content-Type, {} or null
    for (const [body, type] of [
      ['', 'application/json'],
      ['', 'application/x-www-form-urlencoded'],
      ['null', 'application/json'],
    ] as const) {
      const res = await h.request(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
        method: 'POST',
        token: key,
        body,
        headers: { 'content-type': type },
      });
      expect([body, type, res.status]).toEqual([body, type, 200]);
    }
    const rot = await h.request(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      method: 'POST',
      token: key,
      json: {},
    });
    expect(rot.status).toBe(200);
    const { secret } = await json(rot);
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(ep.secret);
    const del = await h.request(`/v1/webhook-endpoints/${ep.id}`, { method: 'DELETE', token: key });
    expect(del.status).toBe(204);
    expect((await h.request(`/v1/webhook-endpoints/${ep.id}`, { token: key })).status).toBe(404);
    expect((await h.request(`/v1/webhook-endpoints/${ep.id}`, { method: 'DELETE', token: key })).status).toBe(
      404,
    );
  });

  it("keeps tenants apart: another tenant's endpoint is 404 on every route", async () => {
    const ep = await json(create({ url: 'https://example.com/mine' }));
    const calls: Array<[string, string, unknown?]> = [
      ['GET', `/v1/webhook-endpoints/${ep.id}`],
      ['PATCH', `/v1/webhook-endpoints/${ep.id}`, { description: 'x' }],
      ['DELETE', `/v1/webhook-endpoints/${ep.id}`],
      ['POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`],
      ['POST', `/v1/webhook-endpoints/${ep.id}/replay`, { since: '2020-01-01T00:00:00Z' }],
    ];
    for (const [method, path, body] of calls) {
      const res = await h.request(path, { method, token: otherKey, ...(body ? { json: body } : {}) });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const list = await json(h.request('/v1/webhook-endpoints?limit=100', { token: otherKey }));
    expect(list.data.map((e: { id: string }) => e.id)).not.toContain(ep.id);
    expect((await h.request(`/v1/webhook-endpoints/${ep.id}`, { token: key })).status).toBe(200);
  });

  it('answers 401 without credentials on every tenant route of this capability', async () => {
    const routes: Array<[string, string]> = [
      ['POST', '/v1/webhook-endpoints'],
      ['GET', '/v1/webhook-endpoints'],
      ['GET', '/v1/webhook-endpoints/wep_x'],
      ['PATCH', '/v1/webhook-endpoints/wep_x'],
      ['DELETE', '/v1/webhook-endpoints/wep_x'],
      ['POST', '/v1/webhook-endpoints/wep_x/rotate-secret'],
      ['POST', '/v1/webhook-endpoints/wep_x/replay'],
      ['GET', '/v1/events'],
      ['GET', '/v1/events/evt_x'],
      ['GET', '/v1/deliveries'],
      ['GET', '/v1/deliveries/dlv_x'],
      ['POST', '/v1/deliveries/dlv_x/retry'],
    ];
    for (const [method, path] of routes) {
      expect((await h.request(path, { method })).status, `${method} ${path}`).toBe(401);
      expect((await h.request(path, { method, token: 'kr_not_a_key' })).status, `${method} ${path}`).toBe(
        401,
      );
    }
  });
});
