import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ControlApiError, startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import {
  componentToken,
  DEMO_APPID,
  DEMO_USER_NAME,
  fixedClock,
  onboard,
  openPush,
  Receiver,
  wx,
} from './support.js';

let t: TestSimulator;
let relay: Receiver;

const call = (api: string, token: string, body: Record<string, unknown>) =>
  wx(
    t,
    `/cgi-bin/component/${api}`,
    { component_appid: t.credentials.componentAppid, ...body },
    {
      component_access_token: token,
    },
  );

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

describe('pre-auth codes', () => {
  it('are single-use and expire after expires_in', async () => {
    const ct = await componentToken(t);
    const pre = await call('api_create_preauthcode', ct, {});
    expect(pre.body.expires_in).toBe(600);
    const code = String(pre.body.pre_auth_code);
    await t.control.authorize({ appid: DEMO_APPID, preAuthCode: code });
    await expect(t.control.authorize({ appid: DEMO_APPID, preAuthCode: code })).rejects.toMatchObject({
      status: 409,
      body: { code: 'pre_auth_code_used' },
    });
    const late = String((await call('api_create_preauthcode', ct, {})).body.pre_auth_code);
    await t.control.advanceClock(600);
    const err = await t.control.authorize({ appid: DEMO_APPID, preAuthCode: late }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlApiError);
    expect((err as ControlApiError).body).toMatchObject({ code: 'pre_auth_code_expired' });
  });
});

describe('api_query_auth', () => {
  it('exchanges a code once for tokens and func_info; a second exchange is 61009', async () => {
    const ct = await componentToken(t);
    const grant = await t.control.authorize({ appid: DEMO_APPID, permissions: [17, 18, 19] });
    const first = await call('api_query_auth', ct, { authorization_code: grant.authCode });
    const info = first.body.authorization_info as Record<string, unknown>;
    expect(info.authorizer_appid).toBe(DEMO_APPID);
    expect(info.expires_in).toBe(7200);
    expect(info.authorizer_refresh_token).toMatch(/^refreshtoken@@@/);
    expect(info.func_info).toEqual([
      { funcscope_category: { id: 17 } },
      { funcscope_category: { id: 18 } },
      { funcscope_category: { id: 19 } },
    ]);
    const again = await call('api_query_auth', ct, { authorization_code: grant.authCode });
    expect(again.body.errcode).toBe(61009);
    expect((await call('api_query_auth', ct, { authorization_code: 'queryauthcode@@@x' })).body.errcode).toBe(
      61009,
    );
  });

  it('answers 61010 for an expired code', async () => {
    const ct = await componentToken(t);
    const grant = await t.control.authorize({ appid: DEMO_APPID });
    await t.control.advanceClock(601);
    const ct2 = await componentToken(t);
    expect(ct2).not.toBe(ct);
    expect((await call('api_query_auth', ct2, { authorization_code: grant.authCode })).body.errcode).toBe(
      61010,
    );
  });
});

describe('api_authorizer_token', () => {
  it('refreshes with the refresh token; re-authorization rotates it and the old one dies after 5 min', async () => {
    const first = await onboard(t);
    const refresh = (token: string) =>
      call('api_authorizer_token', first.componentToken, {
        authorizer_appid: DEMO_APPID,
        authorizer_refresh_token: token,
      });
    const ok = await refresh(first.refreshToken);
    expect(ok.body.authorizer_refresh_token).toBe(first.refreshToken);
    expect(ok.body.expires_in).toBe(7200);

    const second = await onboard(t, DEMO_APPID, [19], first.componentToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const grace = await refresh(first.refreshToken);
    expect(grace.body.authorizer_access_token).toBeDefined();
    expect(grace.body.authorizer_refresh_token).toBe(second.refreshToken);
    await t.control.advanceClock(300);
    expect((await refresh(first.refreshToken)).body.errcode).toBe(61023);
    expect((await refresh(second.refreshToken)).body.errcode).toBeUndefined();
  });

  it('answers 61003 after revocation and pushes an encrypted unauthorized event', async () => {
    const { componentToken: ct, refreshToken, accessToken } = await onboard(t);
    const { push } = await t.control.revoke(DEMO_APPID, true);
    expect(push.status).toBe('delivered');
    const res = await call('api_authorizer_token', ct, {
      authorizer_appid: DEMO_APPID,
      authorizer_refresh_token: refreshToken,
    });
    expect(res.body.errcode).toBe(61003);
    expect((await call('api_get_authorizer_info', ct, { authorizer_appid: DEMO_APPID })).body.errcode).toBe(
      61003,
    );
    const send = await wx(
      t,
      '/cgi-bin/message/custom/send',
      { touser: 'x', msgtype: 'text', text: { content: 'hi' } },
      { access_token: accessToken },
    );
    expect(send.body.errcode).toBe(61003);

    const events = relay.received.filter((r) => r.path === '/wechat/component');
    const last = openPush(t.credentials, events.at(-1)!);
    expect(last.fields.InfoType).toBe('unauthorized');
    expect(last.fields.AuthorizerAppid).toBe(DEMO_APPID);
    expect(last.fields.AuthorizationCode).toBeUndefined();
    const list = await call('api_get_authorizer_list', ct, { offset: 0, count: 100 });
    expect(list.body.total_count).toBe(0);
  });
});

describe('authorizer info and list', () => {
  it('returns the mini-program profile and the granted permission sets', async () => {
    const { componentToken: ct } = await onboard(t, DEMO_APPID, [18, 19]);
    const res = await call('api_get_authorizer_info', ct, { authorizer_appid: DEMO_APPID });
    const info = res.body.authorizer_info as Record<string, unknown>;
    expect(info.user_name).toBe(DEMO_USER_NAME);
    expect(info.nick_name).toBe('演示小程序 Demo Shop');
    expect(info.account_status).toBe(1);
    expect(info.MiniProgramInfo).toBeDefined();
    expect(typeof info.head_img).toBe('string');
    const authorization = res.body.authorization_info as Record<string, unknown>;
    expect(authorization.func_info).toEqual([
      { funcscope_category: { id: 18 } },
      { funcscope_category: { id: 19 } },
    ]);
  });

  it('lists authorizers and hides refresh_token until a code was exchanged', async () => {
    const ct = await componentToken(t);
    await t.control.authorize({ appid: DEMO_APPID });
    const before = await call('api_get_authorizer_list', ct, { offset: 0, count: 100 });
    expect(before.body.total_count).toBe(1);
    expect(before.body.list).toEqual([{ authorizer_appid: DEMO_APPID, auth_time: 1_750_000_000 }]);
    const { refreshToken } = await onboard(t, 'wx6b2c3d4e5f6a7b8c', [19], ct);
    const after = await call('api_get_authorizer_list', ct, { offset: 0, count: 100 });
    expect(after.body.total_count).toBe(2);
    expect((after.body.list as Array<Record<string, unknown>>)[1]).toMatchObject({
      refresh_token: refreshToken,
    });
    expect((await call('api_get_authorizer_list', ct, { offset: 0, count: 501 })).body.errcode).toBe(40097);
  });
});

describe('authorization events', () => {
  it('pushes authorized with the code, an epoch expiry and PreAuthCode; changed permissions → updateauthorized', async () => {
    const preAuthCode = await t.control.createPreAuthCode();
    const grant = await t.control.authorize({ appid: DEMO_APPID, preAuthCode, wait: true });
    expect(grant.infoType).toBe('authorized');
    expect(grant.push.status).toBe('delivered');
    const event = openPush(t.credentials, relay.received.at(-1)!);
    expect(event.envelope.appId).toBe(t.credentials.componentAppid);
    expect(event.fields).toMatchObject({
      AppId: t.credentials.componentAppid,
      CreateTime: '1750000000',
      InfoType: 'authorized',
      AuthorizerAppid: DEMO_APPID,
      AuthorizationCode: grant.authCode,
      AuthorizationCodeExpiredTime: String(1_750_000_000 + 600),
      PreAuthCode: preAuthCode,
    });

    const same = await t.control.authorize({
      appid: DEMO_APPID,
      preAuthCode: await t.control.createPreAuthCode(),
    });
    expect(same.infoType).toBe('authorized');
    const changed = await t.control.authorize({ appid: DEMO_APPID, permissions: [18, 19], wait: true });
    expect(changed.infoType).toBe('updateauthorized');

    const unchanged = await t.control.setPermissions(DEMO_APPID, [19, 18]);
    expect(unchanged).toEqual({ changed: false, push: null });
    const update = await t.control.setPermissions(DEMO_APPID, [17, 19], true);
    expect(update.changed).toBe(true);
    const pushed = openPush(t.credentials, relay.received.at(-1)!);
    expect(pushed.fields.InfoType).toBe('updateauthorized');
    expect(pushed.fields.AuthorizationCode).toBe(update.authCode);
    expect((await t.control.miniProgram(DEMO_APPID)).permissions).toEqual([17, 19]);
  });

  it('refuses to authorize an unknown mini-program or to revoke one that is not authorized', async () => {
    await expect(t.control.authorize({ appid: 'wx0000000000000000' })).rejects.toMatchObject({ status: 404 });
    await expect(t.control.revoke(DEMO_APPID)).rejects.toMatchObject({ status: 409 });
  });
});
