import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ERRMSG } from '../../../src/wechat/errors.js';
import { json } from '../../helpers/http.js';
import {
  type MessagingEnv,
  newUser,
  type Onboarded,
  onboard,
  startMessagingEnv,
  userWrites,
} from './setup.js';

let env: MessagingEnv;
let mp: Onboarded;
beforeAll(async () => {
  env = await startMessagingEnv({ WECHAT_TIMEOUT_MS: '1000' });
  mp = await onboard(env);
  env.clock.set(await env.sim.control.now());
});
afterAll(() => env?.close());
beforeEach(() => env.sim.control.clearFaults());

const text = (openid: string) => ({ openid, type: 'text', text: { content: 'hello' } });
const send = (openid: string, body: Record<string, unknown> = text(openid)) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/messages`, { method: 'POST', json: body, token: mp.apiKey });
const remaining = async (openid: string) =>
  (await json(env.h.request(`/v1/mini-programs/${mp.appid}/conversations/${openid}`, { token: mp.apiKey })))
    .window.remaining;
/** A user who has just written: the window is open with five messages. */
const writer = async () => {
  const openid = await newUser(env, mp.appid);
  await userWrites(env, mp, openid);
  return openid;
};
const outboundStatus = async (openid: string) =>
  (
    await env.h.deps.db.query<{ status: string; wechat_errcode: number | null }>(
      'select status, wechat_errcode from outbound_messages where appid = $1 and openid = $2 order by id',
      [mp.appid, openid],
    )
  ).map((r) => [r.status, r.wechat_errcode]);

// http-api.md §5 / wechat-protocol.md §6: every errcode WeChat can answer a send with, and what the tenant sees.
const TABLE: Array<[errcode: number, status: number, code: string]> = [
  [40003, 422, 'invalid_openid'],
  [40004, 502, 'wechat_error'],
  [40006, 502, 'wechat_error'],
  [45001, 502, 'wechat_error'],
  [40007, 422, 'invalid_media_id'],
  [40013, 502, 'wechat_error'],
  [40125, 502, 'wechat_error'],
  [41004, 502, 'wechat_error'],
  [61011, 502, 'wechat_error'],
  [45002, 502, 'wechat_error'],
  [47001, 502, 'wechat_error'],
  [45009, 429, 'wechat_quota_exceeded'],
  [45011, 429, 'wechat_quota_exceeded'],
  [45072, 502, 'wechat_error'],
  [45080, 502, 'wechat_error'],
  [45081, 502, 'wechat_error'],
  [48001, 403, 'permission_missing'],
  [61003, 409, 'mini_program_unauthorized'],
  [61004, 502, 'wechat_error'],
  [61005, 502, 'wechat_error'],
  [61006, 502, 'wechat_error'],
  [61007, 403, 'permission_missing'],
  [61009, 502, 'wechat_error'],
  [61010, 502, 'wechat_error'],
  [61023, 409, 'mini_program_unauthorized'],
  [99999, 502, 'wechat_error'],
];

describe('WeChat errcodes on a send, through the one table', () => {
  it.each(TABLE)(
    '%i → %i %s, with wechatErrcode/wechatErrmsg, the allowance given back',
    async (errcode, status, code) => {
      const openid = await writer();
      await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode });
      const res = await send(openid);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = await json(res);
      expect(problem).toMatchObject({ status, code, wechatErrcode: errcode });
      expect(problem.wechatErrmsg).toContain(ERRMSG[errcode] ?? '');
      expect(res.headers.get('retry-after')).toBe(errcode === 45011 ? '60' : null);
      expect(await remaining(openid)).toBe(5);
      expect(await outboundStatus(openid)).toEqual([['failed', errcode]]);
    },
  );

  it('a real 40007: an image whose media_id WeChat does not know', async () => {
    const openid = await writer();
    const res = await send(openid, { openid, type: 'image', image: { mediaId: 'no-such-media' } });
    expect(await json(res)).toMatchObject({ status: 422, code: 'invalid_media_id', wechatErrcode: 40007 });
  });

  it('-1 / -1000 are retried twice, then 503 wechat_unavailable; the allowance is given back', async () => {
    for (const errcode of [-1, -1000]) {
      const openid = await writer();
      await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode, times: 3 });
      const res = await send(openid);
      expect(await json(res)).toMatchObject({
        status: 503,
        code: 'wechat_unavailable',
        wechatErrcode: errcode,
      });
      expect(await remaining(openid)).toBe(5);
    }
  });

  it('-1 once is retried and the message goes out', async () => {
    const openid = await writer();
    await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode: -1 });
    expect((await send(openid)).status).toBe(201);
    expect(await remaining(openid)).toBe(4);
  });

  it('a timeout is 503 at once, never retried (WeChat may have delivered it): kept as unknown, allowance spent', async () => {
    const openid = await writer();
    await env.sim.control.addFault({ api: 'custom_send', kind: 'delay', delayMs: 1500 });
    const before = (await env.sim.control.calls('custom_send')).length;
    const res = await send(openid);
    expect(await json(res)).toMatchObject({
      status: 503,
      code: 'wechat_unavailable',
      detail: expect.stringMatching(
        /^WeChat did not answer in time after the request was sent; the message may/,
      ),
    });
    expect((await env.sim.control.calls('custom_send')).length - before).toBeLessThanOrEqual(1);
    await env.sim.control.idle();
    expect(await outboundStatus(openid)).toEqual([['unknown', null]]);
    expect(await remaining(openid)).toBe(4);
  });

  it('a non-JSON answer (HTTP 502 from a proxy) is 503 wechat_unavailable', async () => {
    const openid = await writer();
    await env.sim.control.addFault({
      api: 'custom_send',
      kind: 'http',
      status: 502,
      body: '<html>bad gateway</html>',
    });
    expect(await json(send(openid))).toMatchObject({
      status: 503,
      code: 'wechat_unavailable',
      detail: expect.stringMatching(/^WeChat gave no valid answer after the request was sent/),
    });
  });
});

describe('expired authorizer tokens', () => {
  const refreshes = async () =>
    (await env.sim.control.calls('api_authorizer_token')).filter((c) => c.errcode === 0).length;

  it('a token WeChat no longer accepts (40001/40014) is refreshed once and the send retried: 201', async () => {
    const openid = await writer();
    await env.sim.control.invalidateToken('authorizer', mp.appid);
    const before = await refreshes();
    const res = await send(openid);
    expect(res.status).toBe(201);
    expect(await refreshes()).toBe(before + 1);
    const sends = (await env.sim.control.calls('custom_send')).slice(-2).map((c) => c.errcode);
    expect(sends[1]).toBe(0);
    expect([40001, 40014, 42001]).toContain(sends[0]);
    // the refreshed token is used from now on, without another refresh
    expect((await send(openid)).status).toBe(201);
    expect(await refreshes()).toBe(before + 1);
  });

  it.each([40001, 40014, 42001])('an injected %i is refreshed and retried once', async (errcode) => {
    const openid = await writer();
    const before = await refreshes();
    await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode });
    expect((await send(openid)).status).toBe(201);
    expect(await refreshes()).toBe(before + 1);
  });

  it('a second token error after the refresh is 502 wechat_error, not a loop', async () => {
    const openid = await writer();
    const before = await refreshes();
    await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode: 40001, times: 2 });
    const res = await send(openid);
    expect(await json(res)).toMatchObject({ status: 502, code: 'wechat_error', wechatErrcode: 40001 });
    expect(await refreshes()).toBe(before + 1);
    expect(await remaining(openid)).toBe(5);
  });
});
