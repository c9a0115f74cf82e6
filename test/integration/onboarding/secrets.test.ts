import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshAuthorizerTokens, refreshComponentToken } from '../../../src/onboarding/jobs.js';
import { createTenantWithKey } from '../../helpers/app.js';
import { type OnboardingEnv, startOnboardingEnv } from './env.js';
import { authorizeEventDropped, createLink, followRedirect, onboard, openLanding } from './flow.js';

// No ticket, token, refresh token, code or credential in plaintext in any table, nor in any log line: the
// test reads every row of every table and searches for every value the simulator issued.

let env: OnboardingEnv;

beforeAll(async () => {
  env = await startOnboardingEnv();
});
afterAll(() => env.close());

async function everyRowAsText(): Promise<string> {
  const tables = await env.h.deps.db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  expect(tables.length).toBeGreaterThan(10);
  const parts: string[] = [];
  for (const { table_name } of tables) {
    const rows = await env.h.deps.db.query<{ row: string }>(
      `SELECT row_to_json(t)::text AS row FROM "${table_name}" t`,
    );
    for (const r of rows) parts.push(r.row);
  }
  return parts.join('\n');
}

describe('secrets at rest', () => {
  it('no value WeChat issued, and no credential, is stored or logged in plaintext', async () => {
    const tenant = await createTenantWithKey(env.h, 'Secrets');
    await env.sim.control.pushTicket({ wait: true });
    const first = await onboard(env, tenant.apiKey);
    // the redirect path too, with a returnUrl
    const mp = await env.sim.control.createMiniProgram({});
    const landing = await openLanding(
      (await createLink(env, tenant.apiKey, { returnUrl: 'https://v.example/x' })).url,
    );
    const r = await authorizeEventDropped(env, mp.appid, landing);
    expect((await followRedirect(r.redirectUrl as string)).status).toBe(302);
    await env.pushComponentEvent(r.push.plaintext);
    // refreshed tokens and rotated refresh tokens too
    env.clock.advance(7000_000);
    await env.sim.control.pushTicket({ wait: true });
    await refreshComponentToken(env.h.deps);
    await refreshAuthorizerTokens(env.h.deps);
    await env.sim.control.setPermissions(first.appid, [17, 19], true);

    const state = env.sim.sim.state;
    const secrets = new Set<string>([
      ...state.tokens.map((t) => t.token),
      ...state.tickets.map((t) => t.value),
      ...[...state.authorizations.values()].flatMap((a) => [
        a.refreshToken,
        ...a.oldRefreshTokens.map((o) => o.token),
      ]),
      ...state.authCodes.keys(),
      ...state.preAuthCodes.keys(),
      env.config.wechat.componentAppsecret,
      env.config.wechat.componentAesKey,
      env.config.wechat.componentToken,
      tenant.apiKey,
    ]);
    expect(state.tokens.filter((t) => t.kind === 'authorizer').length).toBeGreaterThanOrEqual(3);
    expect(state.tickets.length).toBeGreaterThanOrEqual(2);
    expect(state.authCodes.size).toBeGreaterThanOrEqual(3);

    const stored = await everyRowAsText();
    const logs = env.h.logs.text;
    for (const secret of secrets) {
      // the part after WeChat's fixed prefix ("ticket@@@", "queryauthcode@@@" …) is the secret itself
      const core = secret.includes('@@@') ? secret.slice(secret.indexOf('@@@') + 3) : secret;
      expect(core.length).toBeGreaterThanOrEqual(8);
      expect(stored.includes(core), 'a secret is stored in plaintext').toBe(false);
      expect(logs.includes(core), 'a secret was logged').toBe(false);
    }
    // the link token is only hashed, and opening the link does not log it (it onboards to the tenant)
    const link = await createLink(env, tenant.apiKey);
    const token = link.url.slice(link.url.lastIndexOf('/') + 1);
    await openLanding(link.url);
    expect((await everyRowAsText()).includes(token)).toBe(false);
    expect(env.h.logs.text.includes(token), 'a link token was logged').toBe(false);
    expect(env.h.logs.text).toContain('"route":"/connect/:token"');
    // nor does any other method or form of its path, which no :token route matches (404, 405)
    for (const [method, path] of [
      ['POST', `/connect/${token}`],
      ['DELETE', `/connect/${token}`],
      ['GET', `/connect/${token}/`],
      ['GET', `/connect//${token}`],
    ] as const) {
      const res = await fetch(`${env.relay.url}${path}`, { method });
      expect([method, path, res.status >= 400]).toEqual([method, path, true]);
    }
    expect(env.h.logs.text.includes(token), 'a link token was logged').toBe(false);
  });
});
