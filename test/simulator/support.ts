import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { WeChatCrypto } from '../../src/wechat/crypto.js';
import { parseEnvelope } from '../../src/wechat/envelope.js';
import { parseXmlDocument } from '../../src/wechat/xml.js';
import type { TestSimulator } from '../helpers/simulator.js';

/** A whole second, so window and expiry arithmetic in tests is exact. */
export const T0 = 1_750_000_000_000;
export const fixedClock = () => T0;

export const DEMO_APPID = 'wx5a1b2c3d4e5f6a7b';
export const DEMO_USER_NAME = 'gh_5a1b2c3d4e5f';
export const DEMO_OPENID = 'oDemoUser0000000000000000001';

export interface WxAnswer {
  status: number;
  body: Record<string, unknown> & { errcode?: number; errmsg?: string };
}

/** Calls a WeChat API of the simulator the way a platform does: POST JSON, JSON answer. */
export async function wx(
  t: TestSimulator,
  path: string,
  body: unknown,
  query: Record<string, string> = {},
): Promise<WxAnswer> {
  const q = new URLSearchParams(query).toString();
  const res = await fetch(`${t.url}${path}${q ? `?${q}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as WxAnswer['body'] };
}

export const RID = / rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/;

export async function componentToken(t: TestSimulator): Promise<string> {
  const { ticket } = await t.control.pushTicket();
  const res = await wx(t, '/cgi-bin/component/api_component_token', {
    component_appid: t.credentials.componentAppid,
    component_appsecret: t.credentials.componentAppsecret,
    component_verify_ticket: ticket,
  });
  return String(res.body.component_access_token);
}

export interface Onboarded {
  componentToken: string;
  accessToken: string;
  refreshToken: string;
  funcInfo: unknown;
}

/** The whole platform flow: ticket → component token → pre-auth code → authorize → api_query_auth. */
export async function onboard(
  t: TestSimulator,
  appid = DEMO_APPID,
  permissions: number[] = [19],
  token?: string,
): Promise<Onboarded> {
  const ct = token ?? (await componentToken(t));
  const pre = await wx(
    t,
    '/cgi-bin/component/api_create_preauthcode',
    { component_appid: t.credentials.componentAppid },
    { component_access_token: ct },
  );
  const grant = await t.control.authorize({
    appid,
    preAuthCode: String(pre.body.pre_auth_code),
    permissions,
  });
  const auth = await wx(
    t,
    '/cgi-bin/component/api_query_auth',
    { component_appid: t.credentials.componentAppid, authorization_code: grant.authCode },
    { component_access_token: ct },
  );
  const info = auth.body.authorization_info as Record<string, unknown>;
  return {
    componentToken: ct,
    accessToken: String(info.authorizer_access_token),
    refreshToken: String(info.authorizer_refresh_token),
    funcInfo: info.func_info,
  };
}

export type Behaviour =
  | 'success'
  | 'empty'
  | 'fail'
  | 'hang'
  | 'error500'
  | ((body: string, url: URL) => string);

export interface Received {
  path: string;
  query: Record<string, string>;
  body: string;
}

/**
 * A stand-in for kefu-relay's push endpoints on 127.0.0.1:0: records every request and answers from a queue
 * of behaviours (then `fallback`).
 */
export class Receiver {
  readonly received: Received[] = [];
  queue: Behaviour[] = [];
  fallback: Behaviour = 'success';
  private server: ServerType | null = null;
  private readonly hanging = new Set<() => void>();
  url = '';

  async start(): Promise<this> {
    const app = new Hono();
    app.all('*', async (c) => {
      const body = await c.req.text();
      const url = new URL(c.req.url);
      this.received.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), body });
      const behaviour = this.queue.shift() ?? this.fallback;
      if (behaviour === 'hang') {
        await new Promise<void>((resolve) => this.hanging.add(resolve));
        return c.text('too late');
      }
      if (behaviour === 'fail') return c.text('fail');
      if (behaviour === 'error500') return c.text('oops', 500);
      if (behaviour === 'empty') return c.body('', 200);
      if (behaviour === 'success') return c.text('success');
      return c.text(behaviour(body, url));
    });
    await new Promise<void>((resolve) => {
      this.server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
        this.url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
    return this;
  }

  async stop(): Promise<void> {
    for (const release of this.hanging) release();
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      if ('closeAllConnections' in s) s.closeAllConnections();
    });
  }
}

/** Opens a push the way kefu-relay must: verify msg_signature over Encrypt, decrypt, parse the inner XML. */
export function openPush(credentials: TestSimulator['credentials'], received: Received) {
  const crypto = new WeChatCrypto({
    token: credentials.componentToken,
    encodingAesKey: credentials.componentAesKey,
    appid: credentials.componentAppid,
  });
  const envelope = parseEnvelope(received.body);
  const { timestamp = '', nonce = '', msg_signature = '', signature = '' } = received.query;
  const verified = crypto.verifyMsgSignature(msg_signature, timestamp, nonce, envelope.encrypt);
  const verified3 = crypto.verifySignature(signature, timestamp, nonce);
  const decrypted = crypto.decrypt(envelope.encrypt);
  return {
    envelope,
    verified,
    verified3,
    plaintext: decrypted.message,
    tailAppid: decrypted.appid,
    fields: parseXmlDocument(decrypted.message) as Record<string, string>,
  };
}
