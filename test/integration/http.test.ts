import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/client.js';
import { buildDeps } from '../../src/service.js';
import { ADMIN_TOKEN, createHarness, type TestHarness, testConfig } from '../helpers/app.js';
import { createEmptyPostgresDatabase, onPostgres } from '../helpers/db.js';
import { json } from '../helpers/http.js';

let h: TestHarness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

describe('HTTP skeleton', () => {
  it('puts a request id on every response, honouring a sane incoming one', async () => {
    const mine = await h.request('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(mine.headers.get('x-request-id')).toBe('abc-123');
    const insane = await h.request('/healthz', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(insane.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{24}$/);
    const problem = await h.request('/nope');
    expect((await json(problem)).requestId).toBe(problem.headers.get('x-request-id'));
  });

  it('answers unknown routes with 404 and wrong methods with 405, as problems', async () => {
    const missing = await h.request('/no/such/route');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(await json(missing)).toMatchObject({ code: 'not_found', status: 404, title: expect.any(String) });

    const wrong = await h.request('/admin/tenants', { method: 'PUT', token: ADMIN_TOKEN });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toContain('POST');
    expect((await json(wrong)).code).toBe('method_not_allowed');
  });

  it('refuses bodies over 1 MiB with 413', async () => {
    const res = await h.request('/admin/tenants', {
      method: 'POST',
      token: ADMIN_TOKEN,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect((await json(res)).code).toBe('payload_too_large');
    // the body is not read, so the connection is not reused: the client is told to open another
    expect(res.headers.get('connection')).toBe('close');
  });

  it('allows more than 1 MiB only to the media upload route itself', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(1536 * 1024) });
    for (const [method, path] of [
      ['PATCH', '/v1/webhook-endpoints/media'],
      ['POST', '/v1/webhook-endpoints/media'],
      ['PUT', '/v1/mini-programs/wx1234567890abcdef/media'],
    ] as const) {
      const res = await h.request(path, {
        method,
        token: 'kr_not_a_key',
        headers: { 'content-type': 'application/json' },
        body: big,
      });
      expect([method, path, res.status]).toEqual([method, path, 413]);
    }
  });

  it('serves health, readiness, metrics, the OpenAPI 3.1 document and the docs page', async () => {
    expect(await await json(h.request('/healthz'))).toEqual({ status: 'ok' });
    const ready = await h.request('/readyz');
    expect(ready.status).toBe(200);
    const doc = await await json(h.request('/openapi.json'));
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/admin/tenants', '/admin/tenants/{id}/api-keys']),
    );
    const docs = await h.request('/docs');
    const html = await docs.text();
    expect(html).toContain('/docs/scalar.js');
    expect(html).not.toMatch(/https?:\/\/(?!localhost)/);
    const bundle = await h.request('/docs/scalar.js');
    expect(bundle.status).toBe(200);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
    const metrics = await (await h.request('/metrics')).text();
    expect(metrics).toContain('kefu_http_requests_total');
  });

  it('documents every operation with a unique operationId and the answers and headers common to all', async () => {
    const doc = await json(h.request('/openapi.json'));
    type Op = {
      operationId?: string;
      requestBody?: unknown;
      parameters?: { in: string; name: string; schema?: Record<string, unknown> }[];
      responses: Record<string, { headers?: Record<string, unknown> }>;
    };
    const ops = Object.values(doc.paths as Record<string, Record<string, Op>>).flatMap((m) =>
      Object.values(m),
    );
    expect(ops.length).toBeGreaterThanOrEqual(25);
    const ids = ops.map((o) => o.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const op of ops) {
      expect([op.operationId, Object.keys(op.responses)]).toEqual([
        op.operationId,
        expect.arrayContaining(['500', '503', ...(op.requestBody ? ['413'] : [])]),
      ]);
      for (const r of Object.values(op.responses)) expect(r.headers).toHaveProperty('x-request-id');
    }
    const send = doc.paths['/v1/mini-programs/{appid}/messages'].post as Op;
    expect(send.responses['429']?.headers).toHaveProperty('Retry-After');
    expect(send.responses['201']?.headers).toHaveProperty('Idempotent-Replayed');
    const limit = (doc.paths['/v1/events'].get as Op).parameters?.find((p) => p.name === 'limit');
    expect(limit?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, default: 20 });
    expect(doc.components.schemas.Problem.properties.code.enum).toEqual(
      expect.arrayContaining(['validation_failed', 'send_limit_reached', 'internal']),
    );
    expect(doc.components.schemas.Event.properties.type.enum).toContain('message.received');
    expect(doc.components.schemas.Event.properties.createdAt.format).toBe('date-time');
    expect(doc.components.schemas.Endpoint.properties.updatedAt.format).toBe('date-time');
  });

  it('is not ready while the database is unreachable', async () => {
    const db = await openDatabase({ url: 'memory://' });
    const deps = buildDeps(testConfig(), { db, log: h.deps.log });
    const app = createApp(deps);
    await db.close();
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await json(res)).toMatchObject({ status: 'unavailable' });
    const api = await app.request('/admin/tenants', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(api.status).toBe(503);
    expect(await json(api)).toMatchObject({ code: 'service_unavailable' });
  });

  it.runIf(onPostgres)('is not ready while migrations are pending (PostgreSQL)', async () => {
    const empty = await createEmptyPostgresDatabase();
    const db = await openDatabase({ url: empty.url });
    try {
      const app = createApp(buildDeps(testConfig(), { db, log: h.deps.log }));
      expect((await app.request('/readyz')).status).toBe(503);
    } finally {
      await db.close();
      await empty.drop();
    }
  });
});
