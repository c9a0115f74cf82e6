import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const reply = (mp: Onboarded, openid: string, content: string) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/messages`, {
    method: 'POST',
    json: { openid, type: 'text', text: { content } },
    token: mp.apiKey,
  });
const list = (mp: Onboarded, query: string) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/messages?${query}`, { token: mp.apiKey });

describe('GET /v1/mini-programs/:appid/messages?openid=', () => {
  it('inbound and outbound of one user, newest first, events left out; paginated', async () => {
    const mp = await onboard(env);
    const other = await newUser(env, mp.appid);
    env.clock.set(await env.sim.control.now());
    await userEnters(env, mp, mp.openid); // an event: not a message
    await userWrites(env, mp, mp.openid, 'q1');
    expect((await reply(mp, mp.openid, 'a1')).status).toBe(201);
    await env.sim.control.sendImage(mp.appid, mp.openid, { wait: true });
    expect((await reply(mp, mp.openid, 'a2')).status).toBe(201);
    await userWrites(env, mp, other, 'not in this conversation');

    const page = await json(list(mp, `openid=${mp.openid}`));
    expect(page.nextCursor).toBeNull();
    expect(page.data.map((m: { direction: string; type: string }) => `${m.direction}:${m.type}`)).toEqual([
      'outbound:text',
      'inbound:image',
      'outbound:text',
      'inbound:text',
    ]);
    const [a2, image, , q1] = page.data;
    expect(a2).toEqual({
      id: expect.stringMatching(/^msg_/),
      direction: 'outbound',
      type: 'text',
      openid: mp.openid,
      createdAt: expect.any(String),
      status: 'sent',
      sentAt: expect.any(String),
      text: { content: 'a2' },
    });
    expect(q1).toMatchObject({
      id: expect.stringMatching(/^psh_/),
      direction: 'inbound',
      type: 'text',
      openid: mp.openid,
      msgId: expect.stringMatching(/^\d+$/),
      createTime: expect.any(String),
      text: { content: 'q1' },
      raw: expect.objectContaining({ MsgType: 'text', Content: 'q1', FromUserName: mp.openid }),
    });
    expect(image.image).toEqual({ picUrl: expect.stringMatching(/^http/), mediaId: expect.any(String) });

    const first = await json(list(mp, `openid=${mp.openid}&limit=3`));
    expect(first.data.map((m: { id: string }) => m.id)).toEqual(
      page.data.slice(0, 3).map((m: { id: string }) => m.id),
    );
    const second = await json(list(mp, `openid=${mp.openid}&limit=3&cursor=${first.nextCursor}`));
    expect(second.data.map((m: { id: string }) => m.id)).toEqual([q1.id]);
    expect(second.nextCursor).toBeNull();
  });

  it('a refused send is listed with its status and WeChat errcode', async () => {
    const mp = await onboard(env);
    await userWrites(env, mp, mp.openid);
    await env.sim.control.addFault({ api: 'custom_send', kind: 'errcode', errcode: 45002 });
    expect((await reply(mp, mp.openid, 'too long')).status).toBe(502);
    const [refused] = (await json(list(mp, `openid=${mp.openid}`))).data;
    expect(refused).toMatchObject({
      direction: 'outbound',
      status: 'failed',
      sentAt: null,
      wechatErrcode: 45002,
    });
  });

  it('openid is required; limit and cursor are checked', async () => {
    const mp = await onboard(env);
    for (const query of [
      '',
      `openid=${mp.openid}&limit=0`,
      `openid=${mp.openid}&limit=101`,
      `openid=${mp.openid}&cursor=nope`,
      // well formed, but an events list's cursor
      `openid=${mp.openid}&cursor=${Buffer.from('c1:evt_01M8SFM852CAB1B8B525217AC3').toString('base64url')}`,
    ]) {
      const res = await list(mp, query);
      expect([query, res.status, (await json(res)).code]).toEqual([query, 422, 'validation_failed']);
    }
  });
});
