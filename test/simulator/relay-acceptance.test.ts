import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPONENT, createHarness, type TestHarness } from '../helpers/app.js';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { DEMO_APPID, DEMO_OPENID } from './support.js';

// kefu-relay's own push endpoints accept what the simulator sends: verified, decrypted, stored, `success`.

let h: TestHarness;
let server: ServerType;
let t: TestSimulator;

beforeAll(async () => {
  h = await createHarness({ logLevel: 'silent' });
  const base = await new Promise<string>((resolve) => {
    server = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
  });
  t = await startTestSimulator({
    componentAppid: COMPONENT.appid,
    componentAppsecret: COMPONENT.appsecret,
    componentToken: COMPONENT.token,
    componentAesKey: COMPONENT.aesKey,
    relayBaseUrl: base,
  });
});
afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await h?.close();
});

describe('kefu-relay accepts simulator pushes', () => {
  it('component_verify_ticket at /wechat/component', async () => {
    const { push } = await t.control.pushTicket({ wait: true });
    expect(push.attempts.map((a) => [a.status, a.body])).toEqual([[200, 'success']]);
    expect(push.status).toBe('delivered');
  });

  it('customer-service pushes at /wechat/callback/$APPID$', async () => {
    const text = await t.control.sendText(DEMO_APPID, DEMO_OPENID, '你好', { wait: true });
    expect(text.push.attempts.at(-1)).toMatchObject({ status: 200, body: 'success' });
    const enter = await t.control.enterSession(DEMO_APPID, DEMO_OPENID, { sessionFrom: 'x', wait: true });
    expect(enter.push.status).toBe('delivered');
    const image = await t.control.sendImage(DEMO_APPID, DEMO_OPENID, { wait: true });
    expect(image.push.status).toBe('delivered');
  });
});
