import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { getAuthorizerToken, withAuthorizerToken } from '../../../src/onboarding/authorizer-tokens.js';
import {
  componentSlot,
  getComponentToken,
  withComponentToken,
} from '../../../src/onboarding/component-token.js';
import {
  createOnboardingJobs,
  refreshAuthorizerTokens,
  refreshComponentToken,
} from '../../../src/onboarding/jobs.js';
import { WeChatApiError } from '../../../src/wechat/errors.js';
import { createTenantWithKey } from '../../helpers/app.js';
import { onPostgres } from '../../helpers/db.js';
import { json } from '../../helpers/http.js';
import { type OnboardingEnv, startOnboardingEnv } from './env.js';
import { callCount, dropComponentEvents, eventRows, onboard, uploadWith } from './flow.js';

// Component and authorizer tokens (wechat-protocol.md §3.9): stored, reused across restarts and instances,
// refreshed ahead of expiry, single-flight, compare-and-expire on 40001/40014/42001, 61023 and 61003 handled.

let env: OnboardingEnv;
let tenant: { tenantId: string; apiKey: string };

beforeAll(async () => {
  env = await startOnboardingEnv();
  tenant = await createTenantWithKey(env.h, 'Tokens');
});
beforeEach(async () => {
  // time moves in these tests; a ticket is pushed every 10 minutes in real life
  await env.sim.control.pushTicket({ wait: true });
});
afterAll(() => env.close());

const calls = async () => ({
  component: await callCount(env, 'api_component_token'),
  authorizer: await callCount(env, 'api_authorizer_token'),
  startPush: await callCount(env, 'api_start_push_ticket'),
});

describe('tokens', () => {
  it('a restart (a new instance on the same database) keeps ticket and tokens and fetches nothing again', async () => {
    const mp = await onboard(env, tenant.apiKey);
    const before = await calls();
    expect(before.component).toBe(1);

    const restarted = await env.startInstance();
    for (const job of createOnboardingJobs(restarted.deps)) await job.runOnce();
    await withAuthorizerToken(restarted.deps, mp.appid, (t) => uploadWith(env, restarted.deps, t));
    await withComponentToken(restarted.deps, async (t) => expect(t.length).toBeGreaterThan(0));
    // the landing page on the new instance mints a pre-auth code with the stored component token
    const link = await json(
      fetch(`${restarted.url}/v1/authorization-links`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
        body: '{}',
      }),
    );
    expect((await fetch(link.url.replace(env.relay.url, restarted.url))).status).toBe(200);
    expect(await calls()).toEqual(before);
  });

  it('the background job refreshes the component and authorizer tokens ahead of expiry, once', async () => {
    const mp = await onboard(env, tenant.apiKey);
    expect(await refreshComponentToken(env.h.deps)).toBe(false);
    expect(await refreshAuthorizerTokens(env.h.deps)).toBe(0);
    const before = await calls();
    const oldToken = (await getAuthorizerToken(env.h.deps, mp.appid)).token;
    // 7200 s tokens: the background margin is min(600 s, half) = 600 s (jittered to 450–600 s per appid)
    env.clock.advance(7200_000 - 400_000);
    expect(await refreshComponentToken(env.h.deps)).toBe(true);
    expect(await refreshAuthorizerTokens(env.h.deps)).toBeGreaterThanOrEqual(1);
    // a second run finds nothing due
    expect(await refreshComponentToken(env.h.deps)).toBe(false);
    const after = await calls();
    expect(after.component - before.component).toBe(1);
    const fresh = await getAuthorizerToken(env.h.deps, mp.appid);
    expect(fresh.token).not.toBe(oldToken);
    await withAuthorizerToken(env.h.deps, mp.appid, (t) => uploadWith(env, env.h.deps, t));
  });

  it('keeps a refreshed token even when WeChat gives it a shorter life than the one it replaces', async () => {
    const mp = await onboard(env, tenant.apiKey);
    const old = {
      component: await getComponentToken(env.h.deps),
      authorizer: await getAuthorizerToken(env.h.deps, mp.appid),
    };
    // WeChat now issues 300 s tokens; the stored ones still have longer than that to live
    await env.sim.control.setConfig({ tokenTtlSeconds: 300 });
    try {
      env.clock.advance(old.authorizer.expiresAt.getTime() - env.clock.now().getTime() - 400_000);
      expect(await refreshComponentToken(env.h.deps)).toBe(true);
      expect(await refreshAuthorizerTokens(env.h.deps)).toBeGreaterThanOrEqual(1);
      const now = env.clock.now().getTime();
      const component = (await componentSlot(env.h.deps).read())!;
      const authorizer = await getAuthorizerToken(env.h.deps, mp.appid);
      // what WeChat issued last is what is stored (the replaced ones fail at WeChat), however short its life
      expect(component.token).not.toBe(old.component.token);
      expect(component.expiresAt.getTime() - now).toBe(300_000);
      expect(authorizer.token).not.toBe(old.authorizer.token);
      expect(authorizer.expiresAt.getTime() - now).toBe(300_000);
      const before = await calls();
      await withAuthorizerToken(env.h.deps, mp.appid, (t) => uploadWith(env, env.h.deps, t));
      expect(await calls()).toEqual(before);
    } finally {
      await env.sim.control.setConfig({ tokenTtlSeconds: 7200 });
    }
  });

  it("after a refresh elsewhere, no instance calls with the replaced token once WeChat's grace is over", async () => {
    const mp = await onboard(env, tenant.apiKey);
    const a = await env.startInstance();
    const b = await env.startInstance();
    // both use (and keep) the current token
    for (const i of [a, b]) await withAuthorizerToken(i.deps, mp.appid, (t) => uploadWith(env, i.deps, t));
    // B's background job refreshes ahead of expiry; WeChat honours the replaced token for 5 minutes more
    env.clock.advance(7200_000 - 400_000);
    await env.sim.control.pushTicket({ wait: true });
    expect(await refreshAuthorizerTokens(b.deps)).toBeGreaterThanOrEqual(1);
    env.clock.advance(301_000);
    const rejected = async () =>
      (await env.sim.control.calls('media_upload')).filter((c) =>
        [40001, 40014, 42001].includes(c.errcode ?? 0),
      ).length;
    const before = await rejected();
    for (const i of [a, b]) await withAuthorizerToken(i.deps, mp.appid, (t) => uploadWith(env, i.deps, t));
    expect(await rejected()).toBe(before);
  });

  it('a token inside the in-request margin is refreshed before the call', async () => {
    const mp = await onboard(env, tenant.apiKey);
    const before = await calls();
    env.clock.advance(7200_000 - 30_000); // 30 s left < min(60 s, a quarter)
    await withAuthorizerToken(env.h.deps, mp.appid, (t) => uploadWith(env, env.h.deps, t));
    const after = await calls();
    expect(after.authorizer - before.authorizer).toBe(1);
    expect(after.component - before.component).toBe(1);
  });

  it('an invalidated authorizer token is refreshed once and the call succeeds', async () => {
    const mp = await onboard(env, tenant.apiKey);
    await env.sim.control.invalidateToken('authorizer', mp.appid);
    const before = await calls();
    const uploaded = await withAuthorizerToken(env.h.deps, mp.appid, (t) => uploadWith(env, env.h.deps, t));
    expect(uploaded.mediaId).toBeTruthy();
    expect((await calls()).authorizer - before.authorizer).toBe(1);
  });

  it('the retry never resends the rejected token, even when a concurrent request cached it again', async () => {
    const mp = await onboard(env, tenant.apiKey);
    const deps = env.h.deps;
    await withAuthorizerToken(deps, mp.appid, async (t) => t); // this process holds the token now
    await env.sim.control.invalidateToken('authorizer', mp.appid);
    const sent: string[] = [];
    const uploaded = await withAuthorizerToken(deps, mp.appid, async (t) => {
      sent.push(t);
      try {
        return await uploadWith(env, deps, t);
      } catch (err) {
        // another request reads the row while the rejected token is being expired, and keeps what it read
        void getAuthorizerToken(deps, mp.appid);
        throw err;
      }
    });
    expect(uploaded.mediaId).toBeTruthy();
    expect(sent).toHaveLength(2);
    expect(sent[1]).not.toBe(sent[0]);
  });

  it('a second token failure is reported, not looped', async () => {
    const mp = await onboard(env, tenant.apiKey);
    await env.sim.control.addFault({ api: 'media_upload', kind: 'errcode', errcode: 40001, times: 5 });
    const uploadsBefore = await callCount(env, 'media_upload');
    const before = await calls();
    const err = await withAuthorizerToken(env.h.deps, mp.appid, (t) => uploadWith(env, env.h.deps, t)).catch(
      (e: unknown) => e,
    );
    await env.sim.control.clearFaults();
    expect(err).toBeInstanceOf(WeChatApiError);
    expect((err as WeChatApiError).errcode).toBe(40001);
    expect((await callCount(env, 'media_upload')) - uploadsBefore).toBe(2);
    expect((await calls()).authorizer - before.authorizer).toBe(1);
  });

  it('an invalidated component token is refreshed once (compare-and-expire) and the call succeeds', async () => {
    await getComponentToken(env.h.deps);
    await env.sim.control.invalidateToken('component');
    const before = await calls();
    const code = await withComponentToken(env.h.deps, (ct) =>
      env.h.deps.wechat.createPreAuthCode(ct, env.config.wechat.componentAppid),
    );
    expect(code.preAuthCode).toMatch(/^preauthcode@@@/);
    expect((await calls()).component - before.component).toBe(1);
  });

  it('61005 (ticket expired) on a component token refresh starts the ticket push and is reported', async () => {
    await getComponentToken(env.h.deps);
    await env.sim.control.invalidateToken('component');
    await env.sim.control.addFault({ api: 'api_component_token', kind: 'errcode', errcode: 61005, times: 1 });
    const before = await calls();
    const err = await withComponentToken(env.h.deps, (ct) =>
      env.h.deps.wechat.createPreAuthCode(ct, env.config.wechat.componentAppid),
    ).catch((e: unknown) => e);
    expect((err as WeChatApiError).errcode).toBe(61005);
    await env.sim.control.idle();
    const after = await calls();
    expect(after.startPush - before.startPush).toBe(1);
    expect(after.component - before.component).toBe(1);
    // the pushed ticket fixes it
    await withComponentToken(env.h.deps, (ct) =>
      env.h.deps.wechat.createPreAuthCode(ct, env.config.wechat.componentAppid),
    );
  });

  it('61023 with no newer refresh token at WeChat: reauthorization_required and authorizer.updated, no retry loop', async () => {
    const mp = await onboard(env, tenant.apiKey);
    await env.sim.control.addFault({
      api: 'api_authorizer_token',
      kind: 'errcode',
      errcode: 61023,
      times: 1,
    });
    env.clock.advance(7200_000); // the token has expired
    const err = await getAuthorizerToken(env.h.deps, mp.appid).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('mini_program_unauthorized');
    const faulted = (await env.sim.control.calls('api_authorizer_token')).filter((c) => c.fault !== null);
    expect(faulted).toHaveLength(1);
    // a later call is refused locally, and the background job leaves it alone
    const before = await callCount(env, 'api_authorizer_token');
    await expect(getAuthorizerToken(env.h.deps, mp.appid)).rejects.toBeInstanceOf(AppError);
    await refreshAuthorizerTokens(env.h.deps);
    expect(await callCount(env, 'api_authorizer_token', mp.appid)).toBe(0);
    expect(await callCount(env, 'api_authorizer_token')).toBeGreaterThanOrEqual(before);

    const read = await json(
      fetch(`${env.relay.url}/v1/mini-programs/${mp.appid}`, {
        headers: { authorization: `Bearer ${tenant.apiKey}` },
      }),
    );
    expect(read.status).toBe('reauthorization_required');
    const events = (await eventRows(env)).filter((e) => e.appid === mp.appid);
    expect(events.map((e) => e.type)).toEqual(['authorizer.authorized', 'authorizer.updated']);
    expect(events[1]?.data).toMatchObject({ status: 'reauthorization_required' });

    // authorizing again clears it
    await env.sim.control.setPermissions(mp.appid, [18, 19], true);
    const again = await json(
      fetch(`${env.relay.url}/v1/mini-programs/${mp.appid}`, {
        headers: { authorization: `Bearer ${tenant.apiKey}` },
      }),
    );
    expect(again.status).toBe('authorized');
  });

  it('61023 with a newer refresh token in api_get_authorizer_list: stored and the refresh retried once', async () => {
    const mp = await onboard(env, tenant.apiKey);
    // a re-authorization whose event never reached us rotates the refresh token at WeChat
    const restore = await dropComponentEvents(env);
    await env.sim.control.authorize({ appid: mp.appid, wait: true });
    await restore();
    env.clock.advance(7200_000); // past the old refresh token's 5-minute grace, and the token expired
    const before = await callCount(env, 'api_authorizer_token', mp.appid);
    await withAuthorizerToken(env.h.deps, mp.appid, (t) => uploadWith(env, env.h.deps, t));
    expect((await callCount(env, 'api_authorizer_token', mp.appid)) - before).toBe(2);
    expect(await callCount(env, 'api_get_authorizer_list')).toBeGreaterThanOrEqual(1);
    const rows = await env.h.deps.db.query<{ status: string }>(
      'SELECT status FROM authorizers WHERE appid = $1',
      [mp.appid],
    );
    expect(rows[0]?.status).toBe('authorized');
  });

  it('61003 confirmed by the authorizer list: unauthorized and authorizer.unauthorized (revoked)', async () => {
    const mp = await onboard(env, tenant.apiKey);
    const restore = await dropComponentEvents(env);
    await env.sim.control.revoke(mp.appid, true);
    await restore();
    env.clock.advance(7200_000);
    const err = await getAuthorizerToken(env.h.deps, mp.appid).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('mini_program_unauthorized');
    const events = (await eventRows(env)).filter((e) => e.appid === mp.appid);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['authorizer.authorized', expect.anything()],
      ['authorizer.unauthorized', { appid: mp.appid, reason: 'revoked' }],
    ]);
    const rows = await env.h.deps.db.query<{ status: string; refresh_token_enc: string | null }>(
      'SELECT status, refresh_token_enc FROM authorizers WHERE appid = $1',
      [mp.appid],
    );
    expect(rows[0]).toEqual({ status: 'unauthorized', refresh_token_enc: null });
  });

  it.runIf(onPostgres)(
    'two instances on one PostgreSQL database needing tokens at the same moment make one refresh call each',
    async () => {
      const mp = await onboard(env, tenant.apiKey);
      const a = await env.startInstance();
      const b = await env.startInstance();
      env.clock.advance(7200_000); // both tokens expired
      // a slow WeChat, so the refreshes would overlap if they were not single-flight
      await env.sim.control.addFault({ api: 'api_component_token', kind: 'delay', delayMs: 300, times: 1 });
      await env.sim.control.addFault({ api: 'api_authorizer_token', kind: 'delay', delayMs: 300, times: 1 });
      const before = await calls();
      const tokens = await Promise.all(
        [a, b, a, b, a, b].map((inst) => getAuthorizerToken(inst.deps, mp.appid).then((t) => t.token)),
      );
      expect(new Set(tokens).size).toBe(1);
      const after = await calls();
      expect(after.authorizer - before.authorizer).toBe(1);
      expect(after.component - before.component).toBe(1);
      await withAuthorizerToken(b.deps, mp.appid, (t) => uploadWith(env, b.deps, t));
    },
  );
});
