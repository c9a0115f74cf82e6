import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  env = await startMessagingEnv();
  mp = await onboard(env);
});
afterAll(() => env?.close());

const typing = (body: unknown) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/typing`, { method: 'POST', json: body, token: mp.apiKey });
const simTyping = async (openid: string) =>
  (await env.sim.control.typing({ appid: mp.appid, openid }))[0]?.typing ?? false;

describe('POST /v1/mini-programs/:appid/typing', () => {
  it('typing: true sends Typing, false sends CancelTyping; both 204 with no body', async () => {
    const openid = await newUser(env, mp.appid);
    await userWrites(env, mp, openid);
    const on = await typing({ openid, typing: true });
    expect(on.status).toBe(204);
    expect(await on.text()).toBe('');
    expect(await simTyping(openid)).toBe(true);
    const off = await typing({ openid, typing: false });
    expect(off.status).toBe(204);
    expect(await simTyping(openid)).toBe(false);
  });

  it("WeChat's typing rules answer: 45081 already typing, 45080 no exchange in 30 s (502 wechat_error)", async () => {
    const openid = await newUser(env, mp.appid);
    await userWrites(env, mp, openid);
    expect((await typing({ openid, typing: true })).status).toBe(204);
    expect(await json(typing({ openid, typing: true }))).toMatchObject({
      status: 502,
      code: 'wechat_error',
      wechatErrcode: 45081,
    });
    await env.sim.control.advanceClock(31);
    expect(await json(typing({ openid, typing: true }))).toMatchObject({
      status: 502,
      code: 'wechat_error',
      wechatErrcode: 45080,
    });
  });

  it('the body is strict: openid and a boolean typing', async () => {
    const res = await typing({ openid: 'o1', typing: 'yes', extra: 1 });
    expect(res.status).toBe(422);
    expect((await json(res)).errors.map((e: { path: string }) => e.path).sort()).toEqual(['extra', 'typing']);
  });
});
