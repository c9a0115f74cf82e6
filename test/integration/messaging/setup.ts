import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { ManualClock } from '../../../src/clock.js';
import { completeAuthorization } from '../../../src/onboarding/complete.js';
import { storeTicket } from '../../../src/onboarding/ticket.js';
import { createHarness, createTenantWithKey, type TestHarness } from '../../helpers/app.js';
import { startTestSimulator, type TestSimulator } from '../../helpers/simulator.js';

/**
 * kefu-relay listening on 127.0.0.1 (so the simulator's pushes reach ingest over HTTP) with its WeChat API
 * pointed at the simulator. Component events are not delivered to kefu-relay: onboarding is driven through
 * its services with the codes the simulator issues, so each test binds its mini-program to its own tenant.
 */
export interface MessagingEnv {
  h: TestHarness;
  sim: TestSimulator;
  clock: ManualClock;
  relayUrl: string;
  close(): Promise<void>;
}

export async function startMessagingEnv(env: Record<string, string> = {}): Promise<MessagingEnv> {
  const sim = await startTestSimulator({ componentEventUrl: 'http://127.0.0.1:9/not-listening' });
  const clock = new ManualClock();
  const h = await createHarness({
    clock,
    logLevel: 'warn',
    env: {
      WECHAT_API_BASE_URL: sim.url,
      WECHAT_COMPONENT_APPID: sim.credentials.componentAppid,
      WECHAT_COMPONENT_APPSECRET: sim.credentials.componentAppsecret,
      WECHAT_COMPONENT_TOKEN: sim.credentials.componentToken,
      WECHAT_COMPONENT_AES_KEY: sim.credentials.componentAesKey,
      SEND_WINDOW_ENFORCE: 'true',
      ...env,
    },
  });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const relayUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // control calls only after the (slow) harness: an idle keep-alive socket could be reset meanwhile
  clock.set(await sim.control.now());
  await sim.control.setConfig({ relayBaseUrl: relayUrl });
  const { ticket } = await sim.control.pushTicket();
  await storeTicket(h.deps, ticket, Math.floor(clock.now().getTime() / 1000));
  return {
    h,
    sim,
    clock,
    relayUrl,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await h.close();
      await sim.close();
    },
  };
}

export interface Onboarded {
  tenantId: string;
  apiKey: string;
  appid: string;
  openid: string;
}

/** A tenant, a simulated mini-program with one user, authorized with `permissions` and completed by onboarding. */
export async function onboard(
  env: MessagingEnv,
  opts: { permissions?: number[]; tenant?: { tenantId: string; apiKey: string } } = {},
): Promise<Onboarded> {
  const tenant = opts.tenant ?? (await createTenantWithKey(env.h));
  const openid = `o${randomBytes(12).toString('base64url')}`;
  const mp = await env.sim.control.createMiniProgram({ users: [openid] });
  const { authCode } = await env.sim.control.authorize({
    appid: mp.appid,
    permissions: opts.permissions ?? [17, 18, 19],
  });
  await completeAuthorization(env.h.deps, { code: authCode, tenantId: tenant.tenantId, linkId: null });
  return { ...tenant, appid: mp.appid, openid };
}

/** Another user of the same mini-program (known to WeChat, as if they had written before). */
export async function newUser(env: MessagingEnv, appid: string): Promise<string> {
  return (await env.sim.control.createUser(appid, {})).openid;
}

/** A multipart body with `bytes` in the field `file`. */
export function imageForm(bytes: Buffer, filename = 'photo.png', type = 'image/png'): FormData {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)], { type }), filename);
  return form;
}

/** Uploads a PNG through the media route and returns its mediaId. */
export async function uploadPng(env: MessagingEnv, mp: Onboarded, png: Buffer): Promise<string> {
  const res = await env.h.request(`/v1/mini-programs/${mp.appid}/media`, {
    method: 'POST',
    body: imageForm(png),
    token: mp.apiKey,
  });
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { mediaId: string }).mediaId;
}

/** The user writes (a pushed text message through ingest): the 5/48 h window opens. */
export async function userWrites(env: MessagingEnv, mp: { appid: string }, openid: string, content = 'hi') {
  const r = await env.sim.control.sendText(mp.appid, openid, content, { wait: true });
  if (r.push.status !== 'delivered') throw new Error(`push not acknowledged: ${JSON.stringify(r.push)}`);
}

/** The user opens the chat from the contact button: the 1/60 s window. */
export async function userEnters(env: MessagingEnv, mp: { appid: string }, openid: string) {
  const r = await env.sim.control.enterSession(mp.appid, openid, { wait: true });
  if (r.push.status !== 'delivered') throw new Error(`push not acknowledged: ${JSON.stringify(r.push)}`);
}
