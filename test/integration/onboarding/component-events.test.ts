import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryComponentEvents } from '../../../src/onboarding/component-events.js';
import { checkTicket, createOnboardingJobs } from '../../../src/onboarding/jobs.js';
import { buildXml } from '../../../src/wechat/xml.js';
import { createTenantWithKey } from '../../helpers/app.js';
import { json } from '../../helpers/http.js';
import { type OnboardingEnv, startOnboardingEnv } from './env.js';
import { callCount, createLink, eventRows, onboard, openLanding, postOnOwnSocket } from './flow.js';

// POST /wechat/component (wechat-protocol.md §1.7, §2): verify before decrypting, store once by the §2.3 keys,
// answer `success`; tickets kept encrypted and newest-wins; failed processing retried, never lost.

let env: OnboardingEnv;
let tenant: { tenantId: string; apiKey: string };

beforeAll(async () => {
  env = await startOnboardingEnv();
  tenant = await createTenantWithKey(env.h, 'Events');
});
afterAll(() => env.close());

const nowSec = () => Math.floor(env.clock.now().getTime() / 1000);
const componentAppid = () => env.config.wechat.componentAppid;
const countEvents = async (infoType: string) =>
  (
    await env.h.deps.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM component_events WHERE info_type = $1',
      [infoType],
    )
  )[0]?.n;

async function post(path: string, body: string) {
  return fetch(`${env.relay.url}${path}`, { method: 'POST', body });
}

describe('component event endpoint', () => {
  it('a ticket is stored encrypted, newest CreateTime wins, a repeat is success and stored once', async () => {
    const ticket = (t: string, createTime: number) =>
      buildXml({
        AppId: componentAppid(),
        CreateTime: createTime,
        InfoType: 'component_verify_ticket',
        ComponentVerifyTicket: t,
      });
    const t0 = nowSec();
    for (let i = 0; i < 2; i++) {
      const res = await env.pushComponentEvent(ticket('ticket@@@newer', t0));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toBe('success');
    }
    expect(await env.pushComponentEvent(ticket('ticket@@@older', t0 - 600)).then((r) => r.text())).toBe(
      'success',
    );
    const rows = await env.h.deps.db.query<{ ticket_enc: string; ticket_create_time: number }>(
      'SELECT ticket_enc, ticket_create_time FROM component_state',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.ticket_create_time).toBe(t0);
    expect(env.h.deps.secrets.decrypt(rows[0]?.ticket_enc as string)).toBe('ticket@@@newer');
    expect(rows[0]?.ticket_enc).not.toContain('ticket@@@');
    expect(await countEvents('component_verify_ticket')).toBe(2);
  });

  it('bad or missing signatures and undecryptable bodies are 401 and store nothing', async () => {
    const before = await countEvents('component_verify_ticket');
    const plaintext = buildXml({
      AppId: componentAppid(),
      CreateTime: nowSec(),
      InfoType: 'component_verify_ticket',
      ComponentVerifyTicket: 'ticket@@@tampered',
    });
    expect((await env.pushComponentEvent(plaintext, { tamper: true })).status).toBe(401);
    const envelope = `<xml><AppId>${componentAppid()}</AppId><Encrypt><![CDATA[AAAA]]></Encrypt></xml>`;
    expect((await post('/wechat/component?timestamp=1&nonce=2', envelope)).status).toBe(401);
    // correctly signed, but not our ciphertext
    const sig = env.h.deps.crypto.msgSignature('1', '2', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    const junk = `<xml><AppId>x</AppId><Encrypt>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</Encrypt></xml>`;
    expect((await post(`/wechat/component?timestamp=1&nonce=2&msg_signature=${sig}`, junk)).status).toBe(401);
    expect(
      (await post('/wechat/component?timestamp=1&nonce=2&msg_signature=x', '<xml><AppId>a</AppId></xml>'))
        .status,
    ).toBe(401);
    expect(await countEvents('component_verify_ticket')).toBe(before);
    // each refusal is logged with the sender's address, as the callback URL's are
    const rejected = env.h.logs.lines
      .map((l) => JSON.parse(l) as { msg: string; ip?: string | null })
      .filter((l) => l.msg === 'component event rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const line of rejected) expect(line.ip).toMatch(/127\.0\.0\.1$/);
  });

  it('malformed bodies are 400, DOCTYPE is 400, over 1 MiB is 413', async () => {
    expect(
      (await post('/wechat/component?timestamp=1&nonce=2&msg_signature=x', '<xml><Encrypt>')).status,
    ).toBe(400);
    expect((await post('/wechat/component?timestamp=1&nonce=2&msg_signature=x', 'hello')).status).toBe(400);
    const doctype = '<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>';
    expect((await post('/wechat/component?timestamp=1&nonce=2&msg_signature=x', doctype)).status).toBe(400);
    const big = `<xml><Encrypt>${'A'.repeat(1024 * 1024 + 10)}</Encrypt></xml>`;
    expect(
      await postOnOwnSocket(env.relay.url, '/wechat/component?timestamp=1&nonce=2&msg_signature=x', big),
    ).toBe(413);
    // a correctly encrypted but malformed inner document
    expect((await env.pushComponentEvent('<xml><InfoType>x</InfoTyp></xml>')).status).toBe(400);
    // signed and encrypted, but holding what PostgreSQL cannot store: 400, nothing stored
    const nul = buildXml({
      AppId: componentAppid(),
      CreateTime: nowSec(),
      InfoType: 'nul_test',
      x: 'a\u0000b',
    });
    const res = await env.pushComponentEvent(nul);
    expect([res.status, await res.text()]).toEqual([400, 'bad_request']);
    expect(await countEvents('nul_test')).toBe(0);
  });

  it('counts component pushes by result on /metrics', async () => {
    // the tests above stored, repeated, refused unsigned and malformed events
    const text = await (await fetch(`${env.relay.url}/metrics`)).text();
    for (const result of ['stored', 'duplicate', 'rejected_signature', 'bad_request'])
      expect(text).toMatch(
        new RegExp(`kefu_pushes_received_total\\{endpoint="component",result="${result}"\\} [1-9]`),
      );
  });

  it('an unknown InfoType is stored and answered success, once per repeat', async () => {
    const plaintext = buildXml({
      AppId: componentAppid(),
      CreateTime: nowSec(),
      InfoType: 'notify_third_fasteregister',
      status: '0',
    });
    for (let i = 0; i < 3; i++)
      expect(await (await env.pushComponentEvent(plaintext)).text()).toBe('success');
    expect(await countEvents('notify_third_fasteregister')).toBe(1);
  });

  it('unauthorized marks the mini-program, destroys its tokens and emits authorizer.unauthorized once', async () => {
    await env.sim.control.pushTicket({ wait: true });
    const mp = await onboard(env, tenant.apiKey);
    const revoked = await env.sim.control.revoke(mp.appid, true);
    expect(revoked.push.status).toBe('delivered');
    await env.pushComponentEvent(revoked.push.plaintext); // WeChat's retry
    const rows = await env.h.deps.db.query<Record<string, unknown>>(
      'SELECT status, access_token_enc, refresh_token_enc FROM authorizers WHERE appid = $1',
      [mp.appid],
    );
    expect(rows[0]).toEqual({ status: 'unauthorized', access_token_enc: null, refresh_token_enc: null });
    const events = (await eventRows(env)).filter((e) => e.appid === mp.appid);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['authorizer.authorized', expect.anything()],
      ['authorizer.unauthorized', { appid: mp.appid, reason: 'revoked' }],
    ]);
    const read = await fetch(`${env.relay.url}/v1/mini-programs/${mp.appid}`, {
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    expect((await json(read)).status).toBe('unauthorized');
  });

  it('an unauthorized event from before the latest authorization (late, or re-sent) does not undo it', async () => {
    const mp = await onboard(env, tenant.apiKey);
    env.clock.advance(60_000);
    const stale = buildXml({
      AppId: componentAppid(),
      CreateTime: nowSec() - 120, // a minute before the authorization
      InfoType: 'unauthorized',
      AuthorizerAppid: mp.appid,
    });
    expect(await (await env.pushComponentEvent(stale)).text()).toBe('success');
    const [row] = await env.h.deps.db.query<{ status: string }>(
      'SELECT status FROM authorizers WHERE appid = $1',
      [mp.appid],
    );
    expect(row?.status).toBe('authorized');
    expect((await eventRows(env)).filter((e) => e.appid === mp.appid).map((e) => e.type)).toEqual([
      'authorizer.authorized',
    ]);
  });

  it('an authorized event whose processing fails (WeChat down) is kept and completed by the retry job', async () => {
    const mp = await env.sim.control.createMiniProgram({ nickname: 'Retry Shop' });
    const landing = await openLanding((await createLink(env, tenant.apiKey)).url);
    await env.sim.control.addFault({ api: 'api_query_auth', kind: 'http', status: 502, times: 3 });
    const r = await env.sim.control.authorize({
      appid: mp.appid,
      preAuthCode: landing.preAuthCode,
      wait: true,
    });
    expect(r.push.status).toBe('delivered'); // answered success: stored, not lost
    const pending = await env.h.deps.db.query<{ processed_at: Date | null; error: string | null }>(
      "SELECT processed_at, error FROM component_events WHERE authorizer_appid = $1 AND info_type = 'authorized'",
      [mp.appid],
    );
    expect(pending[0]?.processed_at).toBeNull();
    expect(pending[0]?.error).toBeTruthy();
    await env.sim.control.clearFaults();
    expect(await retryComponentEvents(env.h.deps, 30_000)).toBe(0); // too young for the job
    env.clock.advance(31_000);
    expect(await retryComponentEvents(env.h.deps, 30_000)).toBe(1);
    const done = await env.h.deps.db.query<{ processed_at: Date | null; error: string | null }>(
      "SELECT processed_at, error FROM component_events WHERE authorizer_appid = $1 AND info_type = 'authorized'",
      [mp.appid],
    );
    expect(done[0]?.processed_at).toBeInstanceOf(Date);
    expect(done[0]?.error).toBeNull();
    expect((await eventRows(env)).filter((e) => e.appid === mp.appid).map((e) => e.type)).toEqual([
      'authorizer.authorized',
    ]);
  });

  it('an authorized event that keeps failing is retried until its code expires, then ended', async () => {
    const mp = await env.sim.control.createMiniProgram({ nickname: 'Expiring Shop' });
    const landing = await openLanding((await createLink(env, tenant.apiKey)).url);
    await env.sim.control.addFault({ api: 'api_query_auth', kind: 'http', status: 502, times: 1000 });
    try {
      await env.sim.control.authorize({ appid: mp.appid, preAuthCode: landing.preAuthCode, wait: true });
      const row = async () =>
        (
          await env.h.deps.db.query<{ processed_at: Date | null; error: string | null }>(
            "SELECT processed_at, error FROM component_events WHERE authorizer_appid = $1 AND info_type = 'authorized'",
            [mp.appid],
          )
        )[0];
      env.clock.advance(31_000);
      await retryComponentEvents(env.h.deps, 30_000);
      expect((await row())?.processed_at).toBeNull(); // the code still has minutes to live: tried again later
      env.clock.advance(600_000); // past AuthorizationCodeExpiredTime (the code lives 10 minutes)
      await retryComponentEvents(env.h.deps, 30_000);
      const ended = await row();
      expect(ended?.processed_at).toBeInstanceOf(Date);
      expect(ended?.error).toContain('the authorization code has expired: not retried');
      expect(await retryComponentEvents(env.h.deps, 30_000)).toBe(0);
    } finally {
      await env.sim.control.clearFaults();
    }
  });

  it('a mini-program authorizing through another tenant’s link moves; the former tenant gets reassigned', async () => {
    await env.sim.control.pushTicket({ wait: true });
    const other = await createTenantWithKey(env.h, 'Newcomer');
    const mp = await onboard(env, tenant.apiKey);
    const landing = await openLanding((await createLink(env, other.apiKey)).url);
    await env.sim.control.authorize({ appid: mp.appid, preAuthCode: landing.preAuthCode, wait: true });
    const events = (await eventRows(env)).filter((e) => e.appid === mp.appid);
    expect(events.map((e) => [e.tenant_id, e.type])).toEqual([
      [tenant.tenantId, 'authorizer.authorized'],
      [tenant.tenantId, 'authorizer.unauthorized'],
      [other.tenantId, 'authorizer.authorized'],
    ]);
    expect(events[1]?.data).toEqual({ appid: mp.appid, reason: 'reassigned' });
    const read = (key: string) =>
      fetch(`${env.relay.url}/v1/mini-programs/${mp.appid}`, { headers: { authorization: `Bearer ${key}` } });
    expect((await read(tenant.apiKey)).status).toBe(404);
    expect((await read(other.apiKey)).status).toBe(200);
  });

  it('a PreAuthCode of no link of ours gives an authorizer without tenant and no event', async () => {
    const mp = await env.sim.control.createMiniProgram({});
    await env.sim.control.authorize({ appid: mp.appid, wait: true });
    const rows = await env.h.deps.db.query<{ tenant_id: string | null; status: string }>(
      'SELECT tenant_id, status FROM authorizers WHERE appid = $1',
      [mp.appid],
    );
    expect(rows).toEqual([{ tenant_id: null, status: 'authorized' }]);
    expect((await eventRows(env)).filter((e) => e.appid === mp.appid)).toEqual([]);
  });
});

describe('ticket watchdog', () => {
  it('on start with no ticket younger than 12 h, and after 30 silent minutes, it starts the ticket push', async () => {
    env.clock.advance(12 * 3600_000 + 1000);
    const before = await callCount(env, 'api_start_push_ticket');
    const restarted = await env.startInstance();
    const [watchdog] = createOnboardingJobs(restarted.deps);
    await watchdog?.runOnce(); // first run: the stored ticket is older than 12 h
    expect((await callCount(env, 'api_start_push_ticket')) - before).toBe(1);
    await env.sim.control.idle(); // the simulator pushed a ticket at once
    await watchdog?.runOnce(); // fresh ticket: nothing to do
    expect((await callCount(env, 'api_start_push_ticket')) - before).toBe(1);
    env.clock.advance(31 * 60_000);
    expect(await checkTicket(restarted.deps, false)).toBe(true);
    expect((await callCount(env, 'api_start_push_ticket')) - before).toBe(2);
  });

  it('with no ticket at all, it asks once, then alerts and asks again only 30 minutes after that', async () => {
    await env.sim.control.idle(); // the ticket the last test asked for is in
    // nothing listens there: WeChat accepts the request, but its ticket never arrives
    await env.sim.control.setConfig({ componentEventUrl: 'http://127.0.0.1:9/wechat/component' });
    await env.h.deps.db.query(
      'UPDATE component_state SET ticket_enc = NULL, ticket_create_time = NULL, ticket_received_at = NULL',
    );
    const before = await callCount(env, 'api_start_push_ticket');
    const calls = async () => (await callCount(env, 'api_start_push_ticket')) - before;
    const fresh = await env.startInstance(); // closed with the env
    try {
      expect(await checkTicket(fresh.deps, true)).toBe(true);
      env.clock.advance(61_000);
      expect(await checkTicket(fresh.deps, false)).toBe(false);
      env.clock.advance(28 * 60_000);
      expect(await checkTicket(fresh.deps, false)).toBe(false);
      expect(await calls()).toBe(1);
      expect(fresh.logs.text).not.toContain('no component_verify_ticket');
      env.clock.advance(60_000);
      expect(await checkTicket(fresh.deps, false)).toBe(true);
      expect(await calls()).toBe(2);
      expect(fresh.logs.text).toContain('no component_verify_ticket for 30 minutes');
    } finally {
      await env.sim.control.setConfig({ componentEventUrl: null });
      await env.sim.control.pushTicket({ wait: true });
    }
  });
});

describe('housekeeping', () => {
  it('the event-retry job purges spent codes after a day and ticket events after a week', async () => {
    const count = async (sql: string) => (await env.h.deps.db.query<{ n: number }>(sql))[0]?.n ?? 0;
    expect(await count('SELECT count(*)::int AS n FROM pre_auth_codes')).toBeGreaterThan(0);
    expect(
      await count('SELECT count(*)::int AS n FROM auth_codes WHERE completed_at IS NOT NULL'),
    ).toBeGreaterThan(0);
    env.clock.advance(8 * 24 * 3600_000);
    const retry = createOnboardingJobs(env.h.deps).find((j) => j.name === 'onboarding.event-retry');
    await retry?.runOnce();
    expect(await count('SELECT count(*)::int AS n FROM pre_auth_codes')).toBe(0);
    expect(await count('SELECT count(*)::int AS n FROM auth_codes WHERE completed_at IS NOT NULL')).toBe(0);
    expect(await countEvents('component_verify_ticket')).toBe(0);
    expect(await countEvents('authorized')).toBeGreaterThan(0);
  });
});

describe('database unavailable', () => {
  // last in the file: it closes the database
  it('an event that cannot be stored is answered 503, never success', async () => {
    const plaintext = buildXml({
      AppId: componentAppid(),
      CreateTime: nowSec(),
      InfoType: 'component_verify_ticket',
      ComponentVerifyTicket: 'ticket@@@while-down',
    });
    await env.h.deps.db.close();
    const res = await env.pushComponentEvent(plaintext);
    expect(res.status).toBe(503);
    expect(await res.text()).not.toBe('success');
  });
});
