import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantWithKey } from '../../helpers/app.js';
import { json } from '../../helpers/http.js';
import { type OnboardingEnv, startOnboardingEnv } from './env.js';
import {
  authorizeEventDropped,
  authorizerRows,
  callCount,
  createLink,
  eventRows,
  followRedirect,
  openLanding,
} from './flow.js';

// Both onboarding paths (the browser redirect and the `authorized` push), alone and together in both orders,
// end in exactly one authorizer and one authorizer.authorized event (http-api.md §2).

let env: OnboardingEnv;
let tenant: { tenantId: string; apiKey: string };

beforeAll(async () => {
  env = await startOnboardingEnv();
  tenant = await createTenantWithKey(env.h, 'Acme');
  await env.sim.control.pushTicket({ wait: true });
});
afterAll(() => env.close());

async function newMiniProgram() {
  return env.sim.control.createMiniProgram({ nickname: 'Acme Shop' });
}

async function eventsFor(appid: string) {
  return (await eventRows(env)).filter((e) => e.appid === appid);
}

describe('onboarding through an authorization link', () => {
  it('the push alone completes onboarding for the link’s tenant', async () => {
    const mp = await newMiniProgram();
    const link = await createLink(env, tenant.apiKey);
    const landing = await openLanding(link.url);
    const result = await env.sim.control.authorize({
      appid: mp.appid,
      preAuthCode: landing.preAuthCode,
      wait: true,
    });
    expect(result.push.status).toBe('delivered');

    const res = await fetch(`${env.relay.url}/v1/mini-programs/${mp.appid}`, {
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      appid: mp.appid,
      userName: mp.userName,
      nickname: 'Acme Shop',
      status: 'authorized',
      permissions: [19],
      customerService: true,
    });
    expect(typeof body.authorizedAt).toBe('string');
    const events = await eventsFor(mp.appid);
    expect(events.map((e) => [e.type, e.tenant_id])).toEqual([['authorizer.authorized', tenant.tenantId]]);
    expect(events[0]?.data).toEqual(body);
  });

  it('the redirect alone completes onboarding and returns to returnUrl with appid and status', async () => {
    const mp = await newMiniProgram();
    const link = await createLink(env, tenant.apiKey, { returnUrl: 'https://vendor.example/done?x=1' });
    const landing = await openLanding(link.url);
    const result = await authorizeEventDropped(env, mp.appid, landing);
    expect(result.push.status).toBe('failed');
    const res = await followRedirect(result.redirectUrl as string);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') as string);
    expect(location.origin + location.pathname).toBe('https://vendor.example/done');
    expect(Object.fromEntries(location.searchParams)).toEqual({
      x: '1',
      appid: mp.appid,
      status: 'authorized',
    });
    const rows = (await authorizerRows(env)).filter((r) => r.appid === mp.appid);
    expect(rows).toEqual([
      { appid: mp.appid, tenant_id: tenant.tenantId, status: 'authorized', user_name: mp.userName },
    ]);
    expect((await eventsFor(mp.appid)).map((e) => e.type)).toEqual(['authorizer.authorized']);
  });

  it('push first, then redirect: one exchange, one authorizer, one event', async () => {
    const mp = await newMiniProgram();
    const link = await createLink(env, tenant.apiKey);
    const landing = await openLanding(link.url);
    const exchangesBefore = await callCount(env, 'api_query_auth');
    const result = await env.sim.control.authorize({
      appid: mp.appid,
      preAuthCode: landing.preAuthCode,
      redirectUri: landing.redirectUri,
      wait: true,
    });
    expect(result.push.status).toBe('delivered');
    const res = await followRedirect(result.redirectUrl as string);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('Acme Shop');
    // the redirect arrives again (the admin reloads): still nothing new
    expect((await followRedirect(result.redirectUrl as string)).status).toBe(200);
    expect((await callCount(env, 'api_query_auth')) - exchangesBefore).toBe(1);
    expect((await eventsFor(mp.appid)).map((e) => e.type)).toEqual(['authorizer.authorized']);
    expect((await authorizerRows(env)).filter((r) => r.appid === mp.appid)).toHaveLength(1);
  });

  it('redirect first, then the push (and its retries): one exchange, one event', async () => {
    const mp = await newMiniProgram();
    const link = await createLink(env, tenant.apiKey);
    const landing = await openLanding(link.url);
    const exchangesBefore = await callCount(env, 'api_query_auth');
    const result = await authorizeEventDropped(env, mp.appid, landing);
    expect((await followRedirect(result.redirectUrl as string)).status).toBe(200);
    // WeChat's push arrives late, three times
    for (let i = 0; i < 3; i++) {
      const res = await env.pushComponentEvent(result.push.plaintext);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('success');
    }
    expect((await callCount(env, 'api_query_auth')) - exchangesBefore).toBe(1);
    expect((await eventsFor(mp.appid)).map((e) => e.type)).toEqual(['authorizer.authorized']);
    const stored = await env.h.deps.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM component_events WHERE authorizer_appid = $1 AND info_type = 'authorized'",
      [mp.appid],
    );
    expect(stored[0]?.n).toBe(1);
  });

  it('redirect and push at the same moment converge on one authorizer and one event', async () => {
    const mp = await newMiniProgram();
    const link = await createLink(env, tenant.apiKey);
    const landing = await openLanding(link.url);
    const result = await authorizeEventDropped(env, mp.appid, landing);
    const [redirect, push1, push2] = await Promise.all([
      followRedirect(result.redirectUrl as string),
      env.pushComponentEvent(result.push.plaintext),
      env.pushComponentEvent(result.push.plaintext),
    ]);
    expect(redirect.status).toBe(200);
    expect(push1.status).toBe(200);
    expect(push2.status).toBe(200);
    expect((await eventsFor(mp.appid)).map((e) => e.type)).toEqual(['authorizer.authorized']);
    expect((await authorizerRows(env)).filter((r) => r.appid === mp.appid)).toHaveLength(1);
  });

  it('re-authorization with changed permissions is authorizer.updated, not a second authorized', async () => {
    const mp = await newMiniProgram();
    const landing = await openLanding((await createLink(env, tenant.apiKey)).url);
    await env.sim.control.authorize({ appid: mp.appid, preAuthCode: landing.preAuthCode, wait: true });
    const changed = await env.sim.control.setPermissions(mp.appid, [17, 19], true);
    expect(changed.push?.status).toBe('delivered');
    const events = await eventsFor(mp.appid);
    expect(events.map((e) => e.type)).toEqual(['authorizer.authorized', 'authorizer.updated']);
    expect(events[1]?.data).toMatchObject({ permissions: [17, 19], status: 'authorized' });
  });

  it('a tenant sees only its own mini-programs', async () => {
    const other = await createTenantWithKey(env.h, 'Other');
    const mp = await newMiniProgram();
    const landing = await openLanding((await createLink(env, tenant.apiKey)).url);
    await env.sim.control.authorize({ appid: mp.appid, preAuthCode: landing.preAuthCode, wait: true });
    const read = (key: string, path: string) =>
      fetch(`${env.relay.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    expect((await read(other.apiKey, `/v1/mini-programs/${mp.appid}`)).status).toBe(404);
    expect((await json(read(other.apiKey, '/v1/mini-programs'))).data).toEqual([]);
    const mine = (await json(read(tenant.apiKey, '/v1/mini-programs'))).data as { appid: string }[];
    expect(mine.map((m) => m.appid)).toContain(mp.appid);
    expect((await fetch(`${env.relay.url}/v1/mini-programs`)).status).toBe(401);
    expect((await fetch(`${env.relay.url}/v1/mini-programs/${mp.appid}`)).status).toBe(401);
  });
});
