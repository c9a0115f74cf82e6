import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createHarness, createTenantWithKey, type TestHarness } from '../helpers/app.js';
import { json } from '../helpers/http.js';

let h: TestHarness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

const admin = (path: string, init: RequestInit & { json?: unknown } = {}) =>
  h.request(path, { ...init, token: ADMIN_TOKEN });

describe('admin API', () => {
  it('refuses a missing or wrong admin token with a problem', async () => {
    for (const token of [undefined, 'nope', `${ADMIN_TOKEN}x`]) {
      const res = await h.request('/admin/tenants', { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect((await json(res)).code).toBe('unauthorized');
    }
  });

  it('creates, reads and lists tenants newest first with cursors', async () => {
    const created: string[] = [];
    for (const name of ['one', 'two', 'three']) {
      const res = await admin('/admin/tenants', { method: 'POST', json: { name } });
      expect(res.status).toBe(201);
      const body = await json(res);
      expect(body).toMatchObject({ name, id: expect.stringMatching(/^tnt_[0-9A-Z]{26}$/) });
      expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);
      created.push(body.id);
    }
    const one = await admin(`/admin/tenants/${created[0]}`);
    expect(await json(one)).toMatchObject({ id: created[0], name: 'one' });

    const first = await await json(admin('/admin/tenants?limit=2'));
    expect(first.data.map((t: { id: string }) => t.id)).toEqual([created[2], created[1]]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await await json(admin(`/admin/tenants?limit=2&cursor=${first.nextCursor}`));
    expect(second.data.map((t: { id: string }) => t.id)).toContain(created[0]);
  });

  it('validates bodies strictly and names every problem', async () => {
    const wrongType = await admin('/admin/tenants', { method: 'POST', json: { name: 123, extra: true } });
    expect(wrongType.status).toBe(422);
    const body = await json(wrongType);
    expect(body.code).toBe('validation_failed');
    expect(body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['extra', 'name']);

    const tooLong = await admin('/admin/tenants', { method: 'POST', json: { name: 'x'.repeat(201) } });
    expect(tooLong.status).toBe(422);
    const notObject = await admin('/admin/tenants', { method: 'POST', json: ['name'] });
    expect(notObject.status).toBe(422);
    const malformed = await admin('/admin/tenants', {
      method: 'POST',
      body: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(422);
    expect((await json(malformed)).code).toBe('validation_failed');
  });

  it('refuses text PostgreSQL cannot store with 422, in bodies and paths alike', async () => {
    const tenant = await json(admin('/admin/tenants', { method: 'POST', json: { name: 'NUL checks' } }));
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/admin/tenants', { name: 'a\u0000b' }, 'name'],
      ['POST', '/admin/tenants', { name: 'a\ud800b' }, 'name'],
      ['POST', `/admin/tenants/${tenant.id}/api-keys`, { name: 'k\u0000' }, 'name'],
      ['GET', '/admin/tenants/tnt%00x', undefined, 'id'],
      ['POST', '/admin/tenants/tnt%00x/api-keys', {}, 'id'],
      ['DELETE', `/admin/tenants/${tenant.id}/api-keys/key%00`, undefined, 'keyId'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await admin(path, { method, ...(body === undefined ? {} : { json: body }) });
      expect(res.status, `${method} ${path}`).toBe(422);
      const problem = await json(res);
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors.map((e: { path: string }) => e.path)).toEqual([field]);
    }
    const names = (await json(admin('/admin/tenants?limit=100'))).data.map((t: { name: string }) => t.name);
    expect(names.filter((n: string) => n.startsWith('a'))).toEqual([]);
  });

  it('rejects bad paging parameters', async () => {
    for (const q of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'cursor=garbage!',
      `cursor=${Buffer.from('c1:nope').toString('base64url')}`,
      // well formed, but a deliveries list's cursor: it would give an empty or a restarted page
      `cursor=${Buffer.from('c1:dlv_01M8SFM852CAB1B8B525217AC3').toString('base64url')}`,
    ]) {
      const res = await admin(`/admin/tenants?${q}`);
      expect(res.status, q).toBe(422);
      expect((await json(res)).code).toBe('validation_failed');
    }
  });

  it('returns 404 problems for unknown tenants and keys', async () => {
    expect((await admin('/admin/tenants/tnt_00000000000000000000000000')).status).toBe(404);
    const { tenantId } = await createTenantWithKey(h);
    const res = await admin(`/admin/tenants/${tenantId}/api-keys/key_00000000000000000000000000`, {
      method: 'DELETE',
    });
    expect(res.status).toBe(404);
    expect((await json(res)).code).toBe('not_found');
    expect(
      (await admin('/admin/tenants/tnt_00000000000000000000000000/api-keys', { method: 'POST', json: {} }))
        .status,
    ).toBe(404);
  });

  it('issues keys shown once, stored as hashes, that stop working when revoked', async () => {
    const t = await await json(admin('/admin/tenants', { method: 'POST', json: { name: 'keys' } }));
    const res = await admin(`/admin/tenants/${t.id}/api-keys`, { method: 'POST', json: { name: 'ci' } });
    expect(res.status).toBe(201);
    const key = await json(res);
    expect(key).toMatchObject({
      id: expect.stringMatching(/^key_/),
      name: 'ci',
      key: expect.stringMatching(/^kr_/),
    });

    const rows = await h.deps.db.query<Record<string, unknown>>('select * from api_keys where id = $1', [
      key.id,
    ]);
    expect(JSON.stringify(rows)).not.toContain(key.key);

    // A route that exists only behind tenant auth: 404 once authenticated, 401 before.
    expect((await h.request('/v1/nothing-here', { token: key.key })).status).toBe(404);
    expect(
      (await h.request('/v1/nothing-here', { token: 'kr_wrongwrongwrongwrongwrongwrongwrong' })).status,
    ).toBe(401);

    const del = await admin(`/admin/tenants/${t.id}/api-keys/${key.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const after = await h.request('/v1/nothing-here', { token: key.key });
    expect(after.status).toBe(401);
    expect((await json(after)).code).toBe('unauthorized');
    // another tenant cannot revoke it by id
    const other = await createTenantWithKey(h, 'other');
    expect(
      (await admin(`/admin/tenants/${other.tenantId}/api-keys/${key.id}`, { method: 'DELETE' })).status,
    ).toBe(404);
  });

  it('never writes the admin token or an API key to the log', async () => {
    const { apiKey } = await createTenantWithKey(h, 'log-check');
    await h.request('/v1/anything', { token: apiKey });
    await h.request('/admin/tenants', { token: 'wrong-token-that-is-secret' });
    expect(h.logs.lines.length).toBeGreaterThan(3);
    expect(h.logs.text).not.toContain(apiKey);
    expect(h.logs.text).not.toContain(ADMIN_TOKEN);
    expect(h.logs.text).not.toContain('wrong-token-that-is-secret');
  });
});
