import { request } from 'node:http';
import { expect } from 'vitest';
import type { OnboardingEnv } from './env.js';

// Steps of the onboarding flow as a tenant's admin performs them, over HTTP.

export async function createLink(env: OnboardingEnv, apiKey: string, body: Record<string, unknown> = {}) {
  const res = await fetch(`${env.relay.url}/v1/authorization-links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; url: string; expiresAt: string };
}

/** Opens the landing page and returns the WeChat authorization URL behind its button. */
export async function openLanding(linkUrl: string) {
  const res = await fetch(linkUrl);
  const html = await res.text();
  expect(res.status).toBe(200);
  const href = /<a id="authorize" href="([^"]+)"/.exec(html)?.[1];
  expect(href).toBeDefined();
  const authorizeUrl = (href as string).replaceAll('&amp;', '&').replaceAll('&#38;', '&');
  const url = new URL(authorizeUrl);
  return {
    authorizeUrl,
    preAuthCode: url.searchParams.get('pre_auth_code') as string,
    redirectUri: url.searchParams.get('redirect_uri') as string,
    url,
  };
}

/** The redirect WeChat sends the browser to, followed by hand (the test is the browser). */
export function followRedirect(redirectUrl: string) {
  return fetch(redirectUrl, { redirect: 'manual' });
}

export async function authorizerRows(env: OnboardingEnv) {
  return env.h.deps.db.query<{
    appid: string;
    tenant_id: string | null;
    status: string;
    user_name: string | null;
  }>('SELECT appid, tenant_id, status, user_name FROM authorizers ORDER BY appid');
}

export async function eventRows(env: OnboardingEnv, type?: string) {
  const rows = await env.h.deps.db.query<{ tenant_id: string; appid: string; type: string; data: unknown }>(
    'SELECT tenant_id, appid, type, data FROM events ORDER BY id',
  );
  return type ? rows.filter((r) => r.type === type) : rows;
}

export async function callCount(env: OnboardingEnv, api: string, appid?: string): Promise<number> {
  return (await env.sim.control.calls(api)).filter((c) => appid === undefined || c.appid === appid).length;
}

/** Component event delivery goes nowhere (the redirect then arrives first); returns a restore function. */
export async function dropComponentEvents(env: OnboardingEnv): Promise<() => Promise<void>> {
  const before = (await env.sim.control.config()).componentEventUrl ?? null;
  await env.sim.control.setConfig({ componentEventUrl: 'http://127.0.0.1:9/wechat/component' });
  return async () => {
    await env.sim.control.setConfig({ componentEventUrl: before });
  };
}

/**
 * The admin authorizes on WeChat's page opened from `landing` while the component event goes nowhere, so the
 * redirect (still to be followed) is the only news kefu-relay gets; returns the simulator's result.
 */
export async function authorizeEventDropped(
  env: OnboardingEnv,
  appid: string,
  landing: Awaited<ReturnType<typeof openLanding>>,
) {
  const restore = await dropComponentEvents(env);
  try {
    return await env.sim.control.authorize({
      appid,
      preAuthCode: landing.preAuthCode,
      redirectUri: landing.redirectUri,
      wait: true,
    });
  } finally {
    await restore();
  }
}

/** A new simulated mini-program onboarded through a fresh link of the tenant (the push path). */
export async function onboard(env: OnboardingEnv, apiKey: string, permissions?: number[]) {
  const mp = await env.sim.control.createMiniProgram({ nickname: 'Onboarded Shop' });
  const landing = await openLanding((await createLink(env, apiKey)).url);
  const r = await env.sim.control.authorize({
    appid: mp.appid,
    preAuthCode: landing.preAuthCode,
    permissions,
    wait: true,
  });
  expect(r.push.status).toBe('delivered');
  return mp;
}

let samplePng: Buffer | undefined;

/** An authorizer-token API call that needs no send window: a temporary image upload. */
export async function uploadWith(env: OnboardingEnv, deps: OnboardingEnv['h']['deps'], token: string) {
  samplePng ??= Buffer.from(await (await fetch(`${env.sim.url}/sim/samples/image.png`)).arrayBuffer());
  return deps.wechat.uploadMedia(token, { filename: 'a.png', contentType: 'image/png', data: samplePng });
}

/** The server answers 413 before reading the whole body and closes: keep that off the shared keep-alive pool. */
export function postOnOwnSocket(
  base: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'POST', agent: false, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}
