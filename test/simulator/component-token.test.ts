import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { componentToken, fixedClock, RID, wx } from './support.js';

let t: TestSimulator;
const tokenBody = (ticket: string, overrides: Record<string, string> = {}) => ({
  component_appid: t.credentials.componentAppid,
  component_appsecret: t.credentials.componentAppsecret,
  component_verify_ticket: ticket,
  ...overrides,
});
const preAuth = (token: string, param = 'component_access_token') =>
  wx(
    t,
    '/cgi-bin/component/api_create_preauthcode',
    { component_appid: t.credentials.componentAppid },
    {
      [param]: token,
    },
  );

beforeAll(async () => {
  t = await startTestSimulator({ clock: fixedClock });
});
afterAll(() => t.close());
beforeEach(() => t.control.reset());

describe('api_component_token', () => {
  it('issues a token valid tokenTtlSeconds that expires with 42001', async () => {
    const { ticket } = await t.control.pushTicket();
    const res = await wx(t, '/cgi-bin/component/api_component_token', tokenBody(ticket));
    expect(res.status).toBe(200);
    expect(res.body.expires_in).toBe(7200);
    const token = String(res.body.component_access_token);
    expect(token.length).toBeGreaterThan(100);

    expect((await preAuth(token)).body.pre_auth_code).toMatch(/^preauthcode@@@/);
    await t.control.advanceClock(7199);
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
    await t.control.advanceClock(1);
    const expired = await preAuth(token);
    expect(expired.body.errcode).toBe(42001);
    expect(expired.body.errmsg).toMatch(/^access_token expired rid: /);
    expect(expired.body.errmsg).toMatch(RID);
  });

  it('accepts the token as component_access_token and as access_token', async () => {
    const token = await componentToken(t);
    expect((await preAuth(token, 'component_access_token')).body.pre_auth_code).toBeDefined();
    expect((await preAuth(token, 'access_token')).body.pre_auth_code).toBeDefined();
    expect((await preAuth('', 'access_token')).body.errcode).toBe(41001);
  });

  it('a newer token makes the previous one answer 40001 "not latest"', async () => {
    const first = await componentToken(t);
    const second = await componentToken(t);
    const stale = await preAuth(first);
    expect(stale.body.errcode).toBe(40001);
    expect(stale.body.errmsg).toContain('not latest');
    expect((await preAuth(second)).body.pre_auth_code).toBeDefined();
    const tokens = await t.control.tokens();
    expect(tokens.map((x) => x.status)).toEqual(['superseded', 'valid']);
    expect(tokens[0]?.prefix).toHaveLength(9);
  });

  it('forced invalidation answers 40014', async () => {
    const token = await componentToken(t);
    expect((await t.control.invalidateToken('component')).invalidated).toBe(1);
    expect((await preAuth(token)).body.errcode).toBe(40014);
  });

  it('rejects an unknown ticket with 61006 and one older than 12 h with 61005', async () => {
    const unknown = await wx(t, '/cgi-bin/component/api_component_token', tokenBody('ticket@@@nope'));
    expect(unknown.body.errcode).toBe(61006);
    const { ticket } = await t.control.pushTicket();
    await t.control.advanceClock(12 * 3600);
    expect(
      (await wx(t, '/cgi-bin/component/api_component_token', tokenBody(ticket))).body.errcode,
    ).toBeUndefined();
    await t.control.advanceClock(1);
    expect((await wx(t, '/cgi-bin/component/api_component_token', tokenBody(ticket))).body.errcode).toBe(
      61005,
    );
  });

  it('a repeated ticket value is valid 12 h from its latest push', async () => {
    const { ticket } = await t.control.pushTicket();
    await t.control.advanceClock(11 * 3600);
    const again = await t.control.pushTicket({ repeat: true });
    expect(again.ticket).toBe(ticket);
    await t.control.advanceClock(11 * 3600);
    expect(
      (await wx(t, '/cgi-bin/component/api_component_token', tokenBody(ticket))).body.errcode,
    ).toBeUndefined();
    const tickets = await t.control.tickets();
    expect(tickets).toHaveLength(1);
    expect((await t.control.pushTicket({ repeat: false })).ticket).not.toBe(ticket);
  });

  it('checks the appid (40013) and the secret (40125)', async () => {
    const { ticket } = await t.control.pushTicket();
    const badAppid = await wx(
      t,
      '/cgi-bin/component/api_component_token',
      tokenBody(ticket, { component_appid: 'wx0' }),
    );
    expect(badAppid.body.errcode).toBe(40013);
    const badSecret = await wx(
      t,
      '/cgi-bin/component/api_component_token',
      tokenBody(ticket, { component_appsecret: 'wrong' }),
    );
    expect(badSecret.body.errcode).toBe(40125);
    expect(badSecret.body.errmsg).toMatch(/^invalid appsecret rid: /);
    expect((await wx(t, '/cgi-bin/component/api_component_token', '{not json')).body.errcode).toBe(47001);
  });

  it('api_start_push_ticket pushes a ticket at once and checks appid and secret', async () => {
    const ok = await wx(t, '/cgi-bin/component/api_start_push_ticket', {
      component_appid: t.credentials.componentAppid,
      component_secret: t.credentials.componentAppsecret,
    });
    expect(ok.body).toEqual({ errcode: 0, errmsg: 'ok' });
    const pushes = await t.control.pushes({ type: 'component_verify_ticket' });
    expect(pushes).toHaveLength(1);
    expect(pushes[0]?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/wechat\/component$/);
    const bad = await wx(t, '/cgi-bin/component/api_start_push_ticket', {
      component_appid: 'wx0000000000000000',
      component_secret: t.credentials.componentAppsecret,
    });
    expect(bad.body.errcode).toBe(40013);
  });

  it('records every call with its errcode and never the whole token', async () => {
    const token = await componentToken(t);
    await preAuth('bogus');
    const calls = await t.control.calls();
    expect(calls.map((c) => [c.api, c.errcode])).toEqual([
      ['api_component_token', 0],
      ['api_create_preauthcode', 40001],
    ]);
    expect(JSON.stringify(calls)).not.toContain(token);
    expect(JSON.stringify(await t.control.tokens())).not.toContain(token);
  });
});
