import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { componentToken, DEMO_APPID, fixedClock, openPush, Receiver, wx } from './support.js';

let t: TestSimulator;
let relay: Receiver;
const REDIRECT = 'http://kefu.test/wechat/authorize/callback?state=st%2Fate-123&x=1';

function pageUrl(params: Record<string, string>, path = '/cgi-bin/componentloginpage'): string {
  return `${t.url}${path}?${new URLSearchParams(params).toString()}`;
}

function linkParams(preAuthCode: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    component_appid: t.credentials.componentAppid,
    pre_auth_code: preAuthCode,
    redirect_uri: REDIRECT,
    auth_type: '2',
    ...extra,
  };
}

async function confirm(fields: Record<string, string | string[]>): Promise<Response> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) form.append(k, one);
  return fetch(`${t.url}/cgi-bin/componentloginpage/confirm`, {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
}

beforeAll(async () => {
  relay = await new Receiver().start();
  t = await startTestSimulator({ clock: fixedClock, relayBaseUrl: relay.url });
});
afterAll(async () => {
  await t.close();
  await relay.stop();
});
beforeEach(async () => {
  await t.control.reset();
  await t.control.setConfig({ relayBaseUrl: relay.url });
  relay.received.length = 0;
});

describe('authorization page', () => {
  it('shows mini-programs, permission sets with 19 ticked and an #authorize button', async () => {
    const res = await fetch(pageUrl(linkParams(await t.control.createPreAuthCode())));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('id="authorize"');
    expect(html).toContain(`id="mp-${DEMO_APPID}"`);
    expect(html).toContain('id="mp-wxd101a85aa106f53e"');
    expect(html).toMatch(/id="perm-19" value="19" checked/);
    expect(html).toMatch(/id="perm-17" value="17">/);
    expect(html).not.toMatch(/<script src|<link /);
  });

  it('restricts the choice to biz_appid and serves the mobile URL', async () => {
    const code = await t.control.createPreAuthCode();
    const html = await (await fetch(pageUrl(linkParams(code, { biz_appid: DEMO_APPID })))).text();
    expect(html).toContain(`id="mp-${DEMO_APPID}"`);
    expect(html).not.toContain('id="mp-wx6b2c3d4e5f6a7b8c"');
    const mobile = await fetch(
      pageUrl({ action: 'bindcomponent', no_scan: '1', ...linkParams(code) }, '/wxaopen/safe/bindcomponent'),
    );
    expect(mobile.status).toBe(200);
    expect(await mobile.text()).toContain('id="authorize"');
    const noAction = await fetch(pageUrl(linkParams(code), '/wxaopen/safe/bindcomponent'));
    expect(noAction.status).toBe(400);
  });

  it('shows an error page for unknown, expired or used pre-auth codes and bad parameters', async () => {
    const unknown = await fetch(pageUrl(linkParams('preauthcode@@@nope')));
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('id="error"');
    const code = await t.control.createPreAuthCode();
    expect((await fetch(pageUrl(linkParams(code, { component_appid: 'wx1' })))).status).toBe(400);
    expect((await fetch(pageUrl(linkParams(code, { redirect_uri: 'not a url' })))).status).toBe(400);
    expect((await fetch(pageUrl(linkParams(code, { auth_type: '1' })))).status).toBe(400);
    expect((await fetch(pageUrl(linkParams(code, { biz_appid: 'wx0000000000000000' })))).status).toBe(400);
    await t.control.advanceClock(600);
    const expired = await fetch(pageUrl(linkParams(code)));
    expect(expired.status).toBe(400);
    expect(await expired.text()).toContain('pre_auth_code_expired');
  });

  it('on confirm redirects with auth_code (state kept) and pushes authorized with the same code', async () => {
    const ct = await componentToken(t);
    const pre = await wx(
      t,
      '/cgi-bin/component/api_create_preauthcode',
      { component_appid: t.credentials.componentAppid },
      { component_access_token: ct },
    );
    const code = String(pre.body.pre_auth_code);
    const res = await confirm({ ...linkParams(code), appid: DEMO_APPID, permission: ['18', '19'] });
    expect(res.status).toBe(302);
    const location = res.headers.get('location') ?? '';
    expect(location.startsWith(`${REDIRECT}&auth_code=queryauthcode@@@`)).toBe(true);
    expect(location.endsWith('&expires_in=600')).toBe(true);
    const authCode = new URL(location).searchParams.get('auth_code') ?? '';
    expect(new URL(location).searchParams.get('state')).toBe('st/ate-123');

    await t.control.idle();
    const events = relay.received.map((r) => openPush(t.credentials, r));
    const opened = events.find((e) => e.fields.InfoType !== 'component_verify_ticket');
    expect(opened).toBeDefined();
    if (!opened) return;
    expect(opened.verified).toBe(true);
    expect(opened.fields).toMatchObject({
      InfoType: 'authorized',
      AuthorizerAppid: DEMO_APPID,
      AuthorizationCode: authCode,
      PreAuthCode: code,
    });
    const auth = await wx(
      t,
      '/cgi-bin/component/api_query_auth',
      { component_appid: t.credentials.componentAppid, authorization_code: authCode },
      { component_access_token: ct },
    );
    expect((auth.body.authorization_info as { func_info: unknown[] }).func_info).toHaveLength(2);

    // The same link cannot be used twice.
    const again = await confirm({ ...linkParams(code), appid: DEMO_APPID, permission: '19' });
    expect(again.status).toBe(400);
  });

  it('re-authorizing with other permissions pushes updateauthorized', async () => {
    const first = await confirm({
      ...linkParams(await t.control.createPreAuthCode()),
      appid: DEMO_APPID,
      permission: '19',
    });
    expect(first.status).toBe(302);
    const second = await confirm({
      ...linkParams(await t.control.createPreAuthCode()),
      appid: DEMO_APPID,
      permission: ['17', '19'],
    });
    expect(second.status).toBe(302);
    await t.control.idle();
    const types = relay.received.map((r) => openPush(t.credentials, r).fields.InfoType);
    expect(types).toEqual(['authorized', 'updateauthorized']);
  });

  it('refuses a confirmation without a permission set or for an account outside biz_appid', async () => {
    const code = await t.control.createPreAuthCode();
    expect((await confirm({ ...linkParams(code), appid: DEMO_APPID })).status).toBe(400);
    const outside = await confirm({
      ...linkParams(code, { biz_appid: DEMO_APPID }),
      appid: 'wx6b2c3d4e5f6a7b8c',
      permission: '19',
    });
    expect(outside.status).toBe(400);
    // Neither attempt used the code up.
    expect((await confirm({ ...linkParams(code), appid: DEMO_APPID, permission: '19' })).status).toBe(302);
  });

  it('POST /sim/authorize returns the redirect URL like the page', async () => {
    const res = await t.control.authorize({
      appid: DEMO_APPID,
      preAuthCode: await t.control.createPreAuthCode(),
      redirectUri: 'http://kefu.test/cb?state=abc#frag',
    });
    expect(res.redirectUrl).toBe(
      `http://kefu.test/cb?state=abc&auth_code=${res.authCode}&expires_in=600#frag`,
    );
  });
});
