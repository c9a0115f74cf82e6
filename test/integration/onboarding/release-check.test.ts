import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELEASE_TEST_APPIDS } from '../../../src/onboarding/release-accounts.js';
import { pendingReleaseWork } from '../../../src/onboarding/release-check.js';
import { pushOf, textFields } from '../../helpers/pushes.js';
import { type OnboardingEnv, startOnboardingEnv } from './env.js';
import { eventRows } from './flow.js';

// 全网发布 (wechat-protocol.md §8): the simulator runs WeChat's automated check against kefu-relay over HTTP
// (pushes to /wechat/callback/<appid>, the `authorized` event to /wechat/component) for every test account.

let env: OnboardingEnv;

beforeAll(async () => {
  env = await startOnboardingEnv();
  await env.sim.control.pushTicket({ wait: true });
});
afterAll(async () => {
  await Promise.all([...pendingReleaseWork]);
  await env.close();
});

describe('全网发布', () => {
  it.each([...RELEASE_TEST_APPIDS])(
    'passes the text, event and QUERY_AUTH_CODE checks for %s',
    async (appid) => {
      const result = await env.sim.control.releaseCheck({ appid, timeoutMs: 10_000 });
      expect(result.steps.map((s) => [s.name, s.ok, s.detail])).toEqual([
        ['text', true, expect.any(String)],
        ['event', true, expect.any(String)],
        ['query_auth_code', true, expect.any(String)],
      ]);
      await env.sim.control.idle();
      await Promise.all([...pendingReleaseWork]);
      // the code arrived twice (the `authorized` event and QUERY_AUTH_CODE) and was exchanged once
      const exchanges = (await env.sim.control.calls('api_query_auth')).filter((c) => c.errcode === 0);
      const failed = (await env.sim.control.calls('api_query_auth')).filter((c) => c.errcode !== 0);
      expect(failed).toEqual([]);
      expect(exchanges.length).toBe([...RELEASE_TEST_APPIDS].indexOf(appid) + 1);
      const rows = await env.h.deps.db.query<{ tenant_id: string | null; status: string }>(
        'SELECT tenant_id, status FROM authorizers WHERE appid = $1',
        [appid],
      );
      expect(rows).toEqual([{ tenant_id: null, status: 'authorized' }]);
    },
  );

  it('a QUERY_AUTH_CODE push WeChat re-sends is answered each time, its custom message sent once', async () => {
    const [appid, userName] = ['wx570bc396a51b8ff8', 'gh_3c884a361561'];
    const { authCode } = await env.sim.control.authorize({ appid, wait: true });
    await env.sim.control.createUser(appid, { openid: 'o-release-retry', known: true });
    // the user writes first (through the simulator), so WeChat's send window is open for the reply
    await env.sim.control.userAction(
      appid,
      'o-release-retry',
      { type: 'text', content: 'hi' },
      { wait: true },
    );
    const sent = async () =>
      (await env.sim.control.messages({ appid })).filter(
        (m) => (m.body as { text?: { content?: string } }).text?.content === `${authCode}_from_api`,
      ).length;
    // built once: each POST is the same push, as WeChat's re-sends are
    const push = pushOf(
      env.h.deps.crypto,
      { appid, userName },
      textFields('o-release-retry', `QUERY_AUTH_CODE:${authCode}`),
    );
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${env.relay.url}${push.path}`, { method: 'POST', body: push.body });
      expect(await res.text()).toBe('success');
      await Promise.all([...pendingReleaseWork]);
    }
    expect(await sent()).toBe(1);
  });

  it('test accounts belong to no tenant: no event was created for them', async () => {
    expect((await eventRows(env)).filter((e) => RELEASE_TEST_APPIDS.has(e.appid))).toEqual([]);
  });
});
