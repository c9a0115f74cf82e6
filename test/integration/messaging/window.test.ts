import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.js';
import { onPostgres } from '../../helpers/db.js';
import { json } from '../../helpers/http.js';
import {
  type MessagingEnv,
  newUser,
  type Onboarded,
  onboard,
  startMessagingEnv,
  userEnters,
  userWrites,
} from './setup.js';

let env: MessagingEnv;
beforeAll(async () => {
  env = await startMessagingEnv();
});
afterAll(() => env?.close());

const text = (openid: string, content = 'hello') => ({ openid, type: 'text', text: { content } });
const send = (mp: Onboarded, openid = mp.openid) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/messages`, {
    method: 'POST',
    json: text(openid),
    token: mp.apiKey,
  });
const view = async (mp: Onboarded, openid = mp.openid) =>
  json(env.h.request(`/v1/mini-programs/${mp.appid}/conversations/${openid}`, { token: mp.apiKey }));
const statuses = async (mp: Onboarded, n: number, openid = mp.openid) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(mp, openid)).status);
  return out;
};
const wechatCalls = async (appid: string) =>
  (await env.sim.control.calls('custom_send')).filter((c) => c.appid === appid).length;
/** kefu-relay's clock at the simulator's (pushes carry the simulator's CreateTime). */
const syncClocks = async () => env.clock.set(await env.sim.control.now());

describe('send windows over HTTP (SEND_WINDOW_ENFORCE on)', () => {
  it('no push yet: 409 send_window_closed, WeChat not called', async () => {
    const mp = await onboard(env);
    const res = await send(mp);
    expect(res.status).toBe(409);
    expect(await json(res)).toMatchObject({ code: 'send_window_closed', status: 409 });
    expect(await wechatCalls(mp.appid)).toBe(0);
    expect(await view(mp)).toEqual({
      appid: mp.appid,
      openid: mp.openid,
      window: { open: false, remaining: 0, expiresAt: null },
      lastInboundAt: null,
      lastOutboundAt: null,
    });
  });

  it('entering the session allows one message; the second is 429 send_limit_reached without a call', async () => {
    const mp = await onboard(env);
    await syncClocks();
    await userEnters(env, mp, mp.openid);
    const open = await view(mp);
    expect(open.window).toMatchObject({ open: true, remaining: 1 });
    expect(open.lastInboundAt).not.toBeNull();
    expect(await statuses(mp, 2)).toEqual([201, 429]);
    expect(await wechatCalls(mp.appid)).toBe(1);
    const after = await view(mp);
    expect(after.window).toMatchObject({ open: true, remaining: 0 });
    expect(after.lastOutboundAt).toBe(env.clock.now().toISOString());
  });

  it('a user message allows five; the sixth is 429; a new message resets to five, not ten', async () => {
    const mp = await onboard(env);
    await syncClocks();
    await userWrites(env, mp, mp.openid, 'one');
    await userWrites(env, mp, mp.openid, 'two'); // not cumulative
    expect((await view(mp)).window.remaining).toBe(5);
    expect(await statuses(mp, 6)).toEqual([201, 201, 201, 201, 201, 429]);
    await userWrites(env, mp, mp.openid, 'three');
    expect((await view(mp)).window.remaining).toBe(5);
    expect(await statuses(mp, 6)).toEqual([201, 201, 201, 201, 201, 429]);
    expect(await wechatCalls(mp.appid)).toBe(10);
  });

  it('the window expires: an entered session is closed (409) after 60 s', async () => {
    const mp = await onboard(env);
    await syncClocks();
    await userEnters(env, mp, mp.openid);
    const { window } = await view(mp);
    env.clock.set(new Date(window.expiresAt).getTime()); // the deadline is exclusive
    const res = await send(mp);
    expect([res.status, (await json(res)).code]).toEqual([409, 'send_window_closed']);
    expect(await view(mp)).toMatchObject({
      window: { open: false, remaining: 0, expiresAt: window.expiresAt },
    });
    expect(await wechatCalls(mp.appid)).toBe(0);
  });

  it('windows are per user', async () => {
    const mp = await onboard(env);
    const other = await newUser(env, mp.appid);
    await syncClocks();
    await userEnters(env, mp, mp.openid);
    expect((await send(mp, other)).status).toBe(409);
    expect((await send(mp)).status).toBe(201);
  });

  it("WeChat's 45047 is 429 and empties the local allowance; 45015 is 409 and closes the local window", async () => {
    const mp = await onboard(env);
    await syncClocks();
    await userWrites(env, mp, mp.openid);
    await env.sim.control.setWindow(mp.appid, mp.openid, { remaining: 0 });
    const limit = await send(mp);
    expect(limit.status).toBe(429);
    expect(await json(limit)).toMatchObject({ code: 'send_limit_reached', wechatErrcode: 45047 });
    expect((await view(mp)).window).toMatchObject({ open: true, remaining: 0 });

    const second = await newUser(env, mp.appid);
    await userWrites(env, mp, second);
    await env.sim.control.setWindow(mp.appid, second, {
      deadline: Math.floor(env.clock.now().getTime() / 1000) - 1,
    });
    const closed = await send(mp, second);
    expect(closed.status).toBe(409);
    expect(await json(closed)).toMatchObject({ code: 'send_window_closed', wechatErrcode: 45015 });
    expect((await view(mp, second)).window).toMatchObject({
      open: false,
      remaining: 0,
      expiresAt: env.clock.now().toISOString(),
    });
    // refused locally from now on: WeChat sees no more calls
    const calls = await wechatCalls(mp.appid);
    expect((await send(mp, second)).status).toBe(409);
    expect(await wechatCalls(mp.appid)).toBe(calls);
  });

  it('a send WeChat refuses for another reason gives the allowance back', async () => {
    const mp = await onboard(env);
    await syncClocks();
    await userEnters(env, mp, mp.openid);
    await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode: 45002 });
    const refused = await send(mp);
    expect([refused.status, (await json(refused)).code]).toEqual([502, 'wechat_error']);
    expect((await view(mp)).window.remaining).toBe(1);
    expect(await statuses(mp, 2)).toEqual([201, 429]);
  });

  it('typing neither needs nor takes the allowance', async () => {
    const mp = await onboard(env);
    await syncClocks();
    await userEnters(env, mp, mp.openid);
    expect((await send(mp)).status).toBe(201);
    const typing = await env.h.request(`/v1/mini-programs/${mp.appid}/typing`, {
      method: 'POST',
      token: mp.apiKey,
      json: { openid: mp.openid, typing: true },
    });
    expect(typing.status).toBe(204);
    expect((await view(mp)).window.remaining).toBe(0);
  });

  it('with enforcement off WeChat decides, and a successful send still uses the allowance (floor 0)', async () => {
    const deps = {
      ...env.h.deps,
      config: { ...env.h.deps.config, sendWindow: { ...env.h.deps.config.sendWindow, enforce: false } },
    };
    const lenient = createApp(deps);
    const mp = await onboard(env);
    const post = () =>
      lenient.request(`/v1/mini-programs/${mp.appid}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${mp.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(text(mp.openid)),
      });
    // no push: kefu-relay lets it through and WeChat refuses it
    const closed = await post();
    expect(await json(closed)).toMatchObject({
      status: 409,
      code: 'send_window_closed',
      wechatErrcode: 45015,
    });
    await syncClocks();
    await userEnters(env, mp, mp.openid);
    expect((await post()).status).toBe(201);
    expect((await view(mp)).window.remaining).toBe(0);
    const limit = await post();
    expect(await json(limit)).toMatchObject({
      status: 429,
      code: 'send_limit_reached',
      wechatErrcode: 45047,
    });
    expect(await wechatCalls(mp.appid)).toBe(3);
    expect((await view(mp)).window.remaining).toBe(0);
  });
});

describe('concurrent sends (PostgreSQL: two sessions at once)', () => {
  it.runIf(onPostgres)(
    '20 parallel sends for the last allowance: exactly one is sent (on PostgreSQL)',
    async () => {
      const mp = await onboard(env);
      await syncClocks();
      await userEnters(env, mp, mp.openid);
      const results = await Promise.all(Array.from({ length: 20 }, () => send(mp)));
      const counts: Record<number, number> = {};
      for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
      expect(counts).toEqual({ 201: 1, 429: 19 });
      expect(await wechatCalls(mp.appid)).toBe(1);
    },
  );

  it.runIf(onPostgres)(
    '20 parallel sends with five allowed: exactly five are sent (on PostgreSQL)',
    async () => {
      const mp = await onboard(env);
      await syncClocks();
      await userWrites(env, mp, mp.openid);
      const results = await Promise.all(Array.from({ length: 20 }, () => send(mp)));
      expect(results.filter((r) => r.status === 201)).toHaveLength(5);
      expect(await wechatCalls(mp.appid)).toBe(5);
      expect((await view(mp)).window.remaining).toBe(0);
    },
  );
});
