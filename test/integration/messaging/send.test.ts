import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../helpers/http.js';
import { type MessagingEnv, newUser, type Onboarded, onboard, startMessagingEnv } from './setup.js';

let env: MessagingEnv;
beforeAll(async () => {
  env = await startMessagingEnv();
});
afterAll(() => env?.close());

const send = (mp: Onboarded, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  env.h.request(`/v1/mini-programs/${mp.appid}/messages`, {
    method: 'POST',
    json: body,
    token: mp.apiKey,
    headers,
  });
const text = (openid: string, content = 'hello') => ({ openid, type: 'text', text: { content } });

describe('POST /v1/mini-programs/:appid/messages — each kind reaches WeChat as §5.1 says', () => {
  it('text', async () => {
    const mp = await onboard(env);
    await env.sim.control.sendText(mp.appid, mp.openid, 'hi', { wait: true });
    const res = await send(mp, text(mp.openid, 'Hello <b>世界</b>'));
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toEqual({
      id: expect.stringMatching(/^msg_[0-9A-Z]{26}$/),
      appid: mp.appid,
      openid: mp.openid,
      type: 'text',
      status: 'sent',
      sentAt: env.clock.now().toISOString(),
    });
    const [received] = await env.sim.control.messages({ appid: mp.appid });
    expect(received?.body).toEqual({
      touser: mp.openid,
      msgtype: 'text',
      text: { content: 'Hello <b>世界</b>' },
    });
  });
});
