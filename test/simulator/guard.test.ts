import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { componentToken, fixedClock, RID, wx } from './support.js';

let t: TestSimulator;
const preAuth = (token: string) =>
  wx(
    t,
    '/cgi-bin/component/api_create_preauthcode',
    { component_appid: t.credentials.componentAppid },
    {
      component_access_token: token,
    },
  );

beforeAll(async () => {
  t = await startTestSimulator({ clock: fixedClock });
});
afterAll(() => t.close());
beforeEach(() => t.control.reset());

describe('IP whitelist', () => {
  it('answers 61004 with requestIP for callers outside it', async () => {
    const token = await componentToken(t);
    await t.control.setConfig({ ipWhitelist: ['10.0.0.1'] });
    const res = await preAuth(token);
    expect(res.body.errcode).toBe(61004);
    expect(res.body.errmsg).toMatch(/^access clientip is not registered requestIP: 127\.0\.0\.1 rid: /);
    await t.control.setConfig({ ipWhitelist: ['10.0.0.1', '127.0.0.1'] });
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
    await t.control.setConfig({ ipWhitelist: null });
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
  });
});

describe('quotas', () => {
  it('answers 45011 past the per-minute quota until the next minute', async () => {
    const token = await componentToken(t);
    await t.control.setConfig({ quotas: { perMinute: 2 } });
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
    expect((await preAuth(token)).body.errcode).toBe(45011);
    await t.control.advanceClock(60);
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
  });

  it('answers 45009 past the daily quota until midnight Beijing time', async () => {
    const token = await componentToken(t);
    await t.control.setConfig({ quotas: { daily: 1 } });
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
    const res = await preAuth(token);
    expect(res.body.errcode).toBe(45009);
    expect(res.body.errmsg).toMatch(/^reach max api daily quota limit/);
    // T0 is 15:06:40 UTC = 23:06:40 in Beijing, so the day turns within the hour.
    await t.control.advanceClock(3600);
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
  });
});

describe('fault injection', () => {
  it('fails the next N calls of an API with an errcode, then recovers', async () => {
    const token = await componentToken(t);
    await t.control.addFault({ api: 'api_create_preauthcode', kind: 'errcode', errcode: -1, times: 2 });
    const first = await preAuth(token);
    expect(first.body.errcode).toBe(-1);
    expect(first.body.errmsg).toMatch(/^system error/);
    expect(first.body.errmsg).toMatch(RID);
    expect((await preAuth(token)).body.errcode).toBe(-1);
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
    const calls = await t.control.calls('api_create_preauthcode');
    expect(calls.map((c) => [c.errcode, c.fault])).toEqual([
      [-1, 'errcode'],
      [-1, 'errcode'],
      [0, null],
    ]);
  });

  it('delays a call', async () => {
    const token = await componentToken(t);
    await t.control.addFault({ api: 'api_create_preauthcode', kind: 'delay', delayMs: 150 });
    const started = performance.now();
    expect((await preAuth(token)).body.pre_auth_code).toBeDefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('hangs a call until the client gives up', async () => {
    const token = await componentToken(t);
    await t.control.addFault({ api: 'api_create_preauthcode', kind: 'hang', delayMs: 5000 });
    const err = await fetch(
      `${t.url}/cgi-bin/component/api_create_preauthcode?component_access_token=${encodeURIComponent(token)}`,
      { method: 'POST', body: '{}', signal: AbortSignal.timeout(200) },
    ).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
  });

  it('drops the connection', async () => {
    await t.control.addFault({ api: 'api_component_token', kind: 'drop' });
    const err = await fetch(`${t.url}/cgi-bin/component/api_component_token`, {
      method: 'POST',
      body: '{}',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((await componentToken(t)).length).toBeGreaterThan(100);
  });

  it('answers with a non-JSON HTTP error', async () => {
    await t.control.addFault({ api: '*', kind: 'http', status: 502, body: '<html>Bad Gateway</html>' });
    const res = await fetch(`${t.url}/cgi-bin/component/api_component_token`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(502);
    expect(await res.text()).toBe('<html>Bad Gateway</html>');
  });

  it('can be listed and cleared; unknown APIs and bad bodies are 400', async () => {
    await t.control.addFault({ api: 'custom_send', kind: 'errcode', errcode: 45015, times: 3 });
    expect((await t.control.request<{ faults: unknown[] }>('GET', '/sim/faults')).faults).toHaveLength(1);
    await t.control.clearFaults('custom_send');
    expect((await t.control.request<{ faults: unknown[] }>('GET', '/sim/faults')).faults).toHaveLength(0);
    await expect(t.control.addFault({ api: 'custom/send', kind: 'drop' })).rejects.toMatchObject({
      status: 400,
      body: { code: 'unknown_api' },
    });
    await expect(t.control.addFault({ api: 'custom_send', kind: 'errcode' })).rejects.toMatchObject({
      status: 400,
    });
  });
});
