import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildXml } from '../../../src/wechat/xml.js';
import { createTenantWithKey } from '../../helpers/app.js';
import { json } from '../../helpers/http.js';
import { type OnboardingEnv, startOnboardingEnv } from './env.js';
import {
  authorizeEventDropped,
  authorizerRows,
  createLink,
  eventRows,
  followRedirect,
  openLanding,
  postOnOwnSocket,
} from './flow.js';

// POST /v1/authorization-links, GET /connect/:token and GET /wechat/authorize/callback (http-api.md §2, §4;
// wechat-protocol.md §3.8).

let env: OnboardingEnv;
let tenant: { tenantId: string; apiKey: string };

beforeAll(async () => {
  env = await startOnboardingEnv();
  tenant = await createTenantWithKey(env.h, 'Links');
  await env.sim.control.pushTicket({ wait: true });
});
afterAll(() => env.close());

const postLink = (body: unknown, key: string | null = tenant.apiKey) =>
  fetch(`${env.relay.url}/v1/authorization-links`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('authorization links', () => {
  it('creates a link on PUBLIC_BASE_URL, valid 7 days by default', async () => {
    const res = await postLink({});
    expect(res.status).toBe(201);
    const link = await json(res);
    expect(link.id).toMatch(/^aul_[0-9A-Z]{26}$/);
    expect(link.url).toMatch(new RegExp(`^${env.relay.url}/connect/[A-Za-z0-9_-]{20,}$`));
    expect(new Date(link.expiresAt).getTime() - env.clock.now().getTime()).toBe(7 * 24 * 3600_000);
    const custom = await json(
      postLink({ expiresIn: 60, returnUrl: 'http://v.example/cb', appid: 'wx123', mobile: true }),
    );
    expect(new Date(custom.expiresAt).getTime() - env.clock.now().getTime()).toBe(60_000);
  });

  it.each([
    [{ expiresIn: '3600' }, 'expiresIn'],
    [{ expiresIn: 0 }, 'expiresIn'],
    [{ expiresIn: 2_592_001 }, 'expiresIn'],
    [{ expiresIn: 1.5 }, 'expiresIn'],
    [{ returnUrl: 'ftp://v.example/x' }, 'returnUrl'],
    [{ returnUrl: 'javascript:alert(1)' }, 'returnUrl'],
    [{ returnUrl: `https://v.example/${'a'.repeat(2048)}` }, 'returnUrl'],
    [{ returnUrl: 123 }, 'returnUrl'],
    [{ appid: 'wx 1' }, 'appid'],
    [{ mobile: 'yes' }, 'mobile'],
    [{ extra: true }, 'extra'],
  ])('refuses %j with 422 naming the field', async (body, field) => {
    const res = await postLink(body);
    expect(res.status).toBe(422);
    const problem = await json(res);
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors.map((e: { path: string }) => e.path)).toContain(field);
  });

  it('accepts the limits, refuses without credentials and over 1 MiB', async () => {
    expect((await postLink({ expiresIn: 2_592_000 })).status).toBe(201);
    expect((await postLink({ expiresIn: 1 })).status).toBe(201);
    expect((await postLink({ returnUrl: `https://v.example/${'a'.repeat(2048 - 19)}` })).status).toBe(201);
    expect((await postLink({}, null)).status).toBe(401);
    const big = JSON.stringify({ returnUrl: 'x'.repeat(1024 * 1024) });
    const headers = { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' };
    expect(await postOnOwnSocket(env.relay.url, '/v1/authorization-links', big, headers)).toBe(413);
  });

  it('the landing page mints a fresh pre-auth code per view and links to the PC page with the exact query', async () => {
    const link = await createLink(env, tenant.apiKey, { appid: 'wxbiz0001' });
    const a = await openLanding(link.url);
    const b = await openLanding(link.url);
    expect(a.preAuthCode).not.toBe(b.preAuthCode);
    expect(a.url.origin + a.url.pathname).toBe(env.config.wechat.authPageUrl);
    expect([...a.url.searchParams.keys()]).toEqual([
      'component_appid',
      'pre_auth_code',
      'redirect_uri',
      'auth_type',
      'biz_appid',
    ]);
    expect(a.url.searchParams.get('component_appid')).toBe(env.config.wechat.componentAppid);
    expect(a.url.searchParams.get('auth_type')).toBe('2');
    expect(a.url.searchParams.get('biz_appid')).toBe('wxbiz0001');
    // redirect_uri is fully encoded: its own query must survive WeChat appending auth_code
    const raw = a.authorizeUrl.slice(a.authorizeUrl.indexOf('redirect_uri=') + 13).split('&')[0] as string;
    expect(raw).not.toMatch(/[?&=:/]/);
    expect(a.redirectUri).toMatch(new RegExp(`^${env.relay.url}/wechat/authorize/callback\\?state=[^&]+$`));
    const rows = await env.h.deps.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pre_auth_codes WHERE link_id = $1',
      [link.id],
    );
    expect(rows[0]?.n).toBe(2);
  });

  it('when WeChat refuses the pre-auth code the page says so (502); when unreachable, to reload (503)', async () => {
    const link = await createLink(env, tenant.apiKey);
    await env.sim.control.addFault({ api: 'api_create_preauthcode', kind: 'errcode', errcode: 61004 });
    const refused = await fetch(link.url);
    expect(refused.status).toBe(502);
    expect(await refused.text()).toContain('errcode 61004 (caller IP not whitelisted)');
    await env.sim.control.addFault({ api: 'api_create_preauthcode', kind: 'http', status: 502, times: 3 });
    const down = await fetch(link.url);
    expect(down.status).toBe(503);
    expect(await down.text()).toContain('Reload this page');
    await env.sim.control.clearFaults();
  });

  it('a mobile link goes to the mobile page with action, no_scan and #wechat_redirect; no biz_appid without appid', async () => {
    const link = await createLink(env, tenant.apiKey, { mobile: true });
    const { authorizeUrl, url } = await openLanding(link.url);
    expect(url.origin + url.pathname).toBe(env.config.wechat.mobileAuthPageUrl);
    expect([...url.searchParams.keys()]).toEqual([
      'action',
      'no_scan',
      'component_appid',
      'pre_auth_code',
      'redirect_uri',
      'auth_type',
    ]);
    expect(url.searchParams.get('action')).toBe('bindcomponent');
    expect(url.searchParams.get('no_scan')).toBe('1');
    expect(authorizeUrl.endsWith('#wechat_redirect')).toBe(true);
  });

  it('an unknown or expired link is a 404 page', async () => {
    const unknown = await fetch(`${env.relay.url}/connect/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/text\/html/);
    const link = await createLink(env, tenant.apiKey, { expiresIn: 60 });
    env.clock.advance(61_000);
    expect((await fetch(link.url)).status).toBe(404);
  });
});

describe('authorize callback', () => {
  it('a missing, forged or expired state is a 400 page', async () => {
    const link = await createLink(env, tenant.apiKey);
    const { redirectUri } = await openLanding(link.url);
    const cb = `${env.relay.url}/wechat/authorize/callback`;
    const missing = await fetch(`${cb}?auth_code=queryauthcode@@@x&expires_in=600`);
    expect(missing.status).toBe(400);
    expect(missing.headers.get('content-type')).toMatch(/text\/html/);
    const state = new URL(redirectUri).searchParams.get('state') as string;
    const forged = `${state.slice(0, -4)}AAAA`;
    expect((await fetch(`${cb}?state=${forged}&auth_code=queryauthcode@@@x`)).status).toBe(400);
    env.clock.advance(3601_000);
    await env.sim.control.pushTicket({ wait: true });
    expect((await fetch(`${redirectUri}&auth_code=queryauthcode@@@x&expires_in=600`)).status).toBe(400);
  });

  it('a code WeChat calls used or expired (61009/61010) is an error page, and the code can be tried again', async () => {
    const mp = await env.sim.control.createMiniProgram({});
    const link = await createLink(env, tenant.apiKey);
    const landing = await openLanding(link.url);
    const r = await authorizeEventDropped(env, mp.appid, landing);
    await env.sim.control.addFault({ api: 'api_query_auth', kind: 'errcode', errcode: 61010, times: 1 });
    const res = await followRedirect(r.redirectUrl as string);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('expired');
    // nothing was recorded for the code, so the real exchange still works
    expect((await followRedirect(r.redirectUrl as string)).status).toBe(200);
  });

  it('the pages may not be framed, load nothing, run no script and send only the origin as referrer', async () => {
    const link = await createLink(env, tenant.apiKey);
    const { redirectUri } = await openLanding(link.url);
    for (const url of [link.url, `${env.relay.url}/connect/unknown-token`, `${redirectUri}&auth_code=x`]) {
      const res = await fetch(url);
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('origin');
      await res.body?.cancel();
    }
  });

  it('a link made for one appid binds no other, by the redirect or by the push', async () => {
    const meant = await env.sim.control.createMiniProgram({});
    const link = await createLink(env, tenant.apiKey, { appid: meant.appid });
    const held = async (appid: string) => (await authorizerRows(env)).find((a) => a.appid === appid);

    // biz_appid is only a parameter of WeChat's page: authorizing another mini-program there is possible
    const other = await env.sim.control.createMiniProgram({});
    const r = await authorizeEventDropped(env, other.appid, await openLanding(link.url));
    const res = await followRedirect(r.redirectUrl as string);
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('Not connected through this link');
    expect((await held(other.appid))?.tenant_id ?? null).toBeNull();

    const third = await env.sim.control.createMiniProgram({});
    const landing = await openLanding(link.url);
    await env.sim.control.authorize({ appid: third.appid, preAuthCode: landing.preAuthCode, wait: true });
    expect((await held(third.appid))?.tenant_id ?? null).toBeNull();
    const mine = (await eventRows(env)).filter((e) => e.tenant_id === tenant.tenantId);
    expect(mine.filter((e) => e.appid === other.appid || e.appid === third.appid)).toEqual([]);

    // the mini-program it was made for still connects through it
    const ok = await authorizeEventDropped(env, meant.appid, await openLanding(link.url));
    expect((await followRedirect(ok.redirectUrl as string)).status).toBe(200);
    expect((await held(meant.appid))?.tenant_id).toBe(tenant.tenantId);
  });

  it("the push's PreAuthCode decides when another link's callback completed the code first", async () => {
    const rival = await createTenantWithKey(env.h, 'Thief');
    const mp = await env.sim.control.createMiniProgram({});
    const victim = await openLanding((await createLink(env, tenant.apiKey)).url);
    const r = await authorizeEventDropped(env, mp.appid, victim); // WeChat's push is late
    const code = new URL(r.redirectUrl as string).searchParams.get('auth_code') as string;
    // someone holding the code presents it with a state of another tenant's link, before anyone else
    const theirs = await openLanding((await createLink(env, rival.apiKey)).url);
    const stolen = await followRedirect(
      `${theirs.redirectUri}&auth_code=${encodeURIComponent(code)}&expires_in=600`,
    );
    expect(stolen.status).toBe(200);
    const holder = async () => (await authorizerRows(env)).find((a) => a.appid === mp.appid)?.tenant_id;
    expect(await holder()).toBe(rival.tenantId);

    const now = Math.floor(env.clock.now().getTime() / 1000);
    const pushed = await env.pushComponentEvent(
      buildXml({
        AppId: env.config.wechat.componentAppid,
        CreateTime: now,
        InfoType: 'authorized',
        AuthorizerAppid: mp.appid,
        AuthorizationCode: code,
        AuthorizationCodeExpiredTime: now + 600,
        PreAuthCode: victim.preAuthCode,
      }),
    );
    expect(await pushed.text()).toBe('success');
    expect(await holder()).toBe(tenant.tenantId);
    const events = (await eventRows(env)).filter((e) => e.appid === mp.appid);
    expect(events.map((e) => [e.tenant_id, e.type])).toEqual([
      [rival.tenantId, 'authorizer.authorized'],
      [rival.tenantId, 'authorizer.unauthorized'],
      [tenant.tenantId, 'authorizer.authorized'],
    ]);
    expect(events[1]?.data).toEqual({ appid: mp.appid, reason: 'reassigned' });
    // the victim's own redirect now reports it connected
    expect((await followRedirect(r.redirectUrl as string)).status).toBe(200);
  });

  it("a code bound through another tenant's link is neither reported connected nor sent to this returnUrl", async () => {
    const rival = await createTenantWithKey(env.h, 'Rival');
    const mp = await env.sim.control.createMiniProgram({});
    const theirs = await openLanding((await createLink(env, rival.apiKey)).url);
    const r = await env.sim.control.authorize({
      appid: mp.appid,
      preAuthCode: theirs.preAuthCode,
      redirectUri: theirs.redirectUri,
      wait: true,
    });
    const code = new URL(r.redirectUrl as string).searchParams.get('auth_code') as string;
    const mine = await openLanding(
      (await createLink(env, tenant.apiKey, { returnUrl: 'https://tenant.example/done' })).url,
    );
    const res = await followRedirect(
      `${mine.redirectUri}&auth_code=${encodeURIComponent(code)}&expires_in=600`,
    );
    expect(res.status).toBe(409);
    expect(res.headers.get('location')).toBeNull();
    expect((await authorizerRows(env)).find((a) => a.appid === mp.appid)?.tenant_id).toBe(rival.tenantId);
  });
});
