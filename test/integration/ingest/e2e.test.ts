import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryWorker } from '../../../src/delivery/worker.js';
import { createTenantWithKey } from '../../helpers/app.js';
import { json } from '../../helpers/http.js';
import { startReceiver, type TestReceiver } from '../../helpers/receiver.js';
import { type OnboardingEnv, startOnboardingEnv } from '../onboarding/env.js';
import { createLink, openLanding } from '../onboarding/flow.js';

// The whole path as in production: a mini-program onboarded through a tenant's link at the simulator, the
// simulator pushing user actions over HTTP to a listening kefu-relay, the worker delivering them to the
// tenant's webhook endpoint created through the API.

let env: OnboardingEnv;
let receiver: TestReceiver;
let apiKey: string;
let appid: string;

beforeAll(async () => {
  env = await startOnboardingEnv();
  receiver = await startReceiver();
  const tenant = await createTenantWithKey(env.h, 'Acme');
  apiKey = tenant.apiKey;
  await env.sim.control.pushTicket({ wait: true });
  const mp = await env.sim.control.createMiniProgram({ nickname: 'Acme Shop' });
  appid = mp.appid;
  const landing = await openLanding((await createLink(env, apiKey)).url);
  const authorized = await env.sim.control.authorize({ appid, preAuthCode: landing.preAuthCode, wait: true });
  expect(authorized.push.status).toBe('delivered');
});
afterAll(async () => {
  await receiver?.close();
  await env?.close();
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${env.relay.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...init.headers },
  });

describe('simulator → kefu-relay → webhook', () => {
  it('user actions pushed over HTTP are acknowledged once and delivered to the endpoint', async () => {
    const created = await api('/v1/webhook-endpoints', {
      method: 'POST',
      body: JSON.stringify({ url: receiver.url, eventTypes: ['session.entered', 'message.received'] }),
    });
    expect(created.status).toBe(201);
    const { openid } = await env.sim.control.createUser(appid);

    const entered = await env.sim.control.enterSession(appid, openid, { wait: true, sessionFrom: 'cart' });
    const text = await env.sim.control.sendText(appid, openid, '你好', {
      wait: true,
      msgId: '25495331247649341',
    });
    const debug = await env.sim.control.sendEvent(appid, openid, 'debug_demo', {}, { wait: true });
    for (const push of [entered.push, text.push, debug.push]) {
      expect(push.status).toBe('delivered');
      // answered `success` on the first attempt: WeChat never had to retry
      expect(push.attempts.map((a) => [a.status, a.body])).toEqual([[200, 'success']]);
    }

    // the window is open as soon as the push was answered, before any delivery
    const conversation = await api(`/v1/mini-programs/${appid}/conversations/${openid}`);
    expect((await json(conversation)).window).toMatchObject({ open: true, remaining: 5 });

    const worker = createDeliveryWorker(env.h.deps);
    while ((await worker.runOnce()) > 0) {
      // until nothing is due
    }
    const got = await receiver.waitForCount(2);
    // attempts run concurrently: arrival order is not theirs
    const bodies = got.map((r) => JSON.parse(r.body)).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(bodies.map((b) => b.type)).toEqual(['session.entered', 'message.received']);
    expect(bodies[0]).toMatchObject({ appid, data: { openid, sessionFrom: 'cart' } });
    expect(bodies[1]).toMatchObject({
      appid,
      data: { openid, msgId: '25495331247649341', msgType: 'text', text: { content: '你好' } },
    });
    expect(got.map((r) => r.headers['webhook-id']).sort()).toEqual(bodies.map((b) => b.id));
    // debug_demo became a wechat.event, which this endpoint's filter leaves out
    const events = await api(`/v1/events?appid=${appid}&type=wechat.event`);
    expect((await json(events)).data).toHaveLength(1);
  });
});
