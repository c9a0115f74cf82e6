import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { DEMO_APPID, DEMO_OPENID, fixedClock, onboard, wx } from './support.js';

let t: TestSimulator;

async function raw(method: string, path: string, body?: string) {
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body,
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

beforeAll(async () => {
  t = await startTestSimulator({ clock: fixedClock });
});
afterAll(() => t.close());
beforeEach(() => t.control.reset());

describe('control API', () => {
  it('creates mini-programs and users', async () => {
    const mp = await t.control.createMiniProgram({ nickname: '新店', users: ['oSeeded'] });
    expect(mp.appid).toMatch(/^wx[0-9a-f]{16}$/);
    expect(mp.userName).toMatch(/^gh_[0-9a-f]{12}$/);
    expect(mp.users).toEqual([{ openid: 'oSeeded', nickname: expect.any(String), known: true }]);
    const user = await t.control.createUser(mp.appid, { nickname: '小明' });
    expect(user.openid).toMatch(/^o[A-Za-z0-9_-]{27}$/);
    expect(user.known).toBe(false);
    expect((await t.control.miniProgram(mp.appid)).users).toHaveLength(2);
    await expect(t.control.createMiniProgram({ appid: mp.appid })).rejects.toMatchObject({ status: 409 });
  });

  it('answers clear problem+json errors for bad bodies and unknown resources', async () => {
    const bad = await raw('POST', '/sim/mini-programs', '{"appid":"nope"}');
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    expect(bad.body).toMatchObject({ code: 'validation_failed', errors: [{ path: 'appid' }] });
    expect((await raw('POST', '/sim/clock/advance', '{')).body.code).toBe('invalid_json');
    expect((await raw('POST', '/sim/clock/advance', '{"secs":1}')).status).toBe(400);
    const unknown = await raw(
      'POST',
      `/sim/mini-programs/wx0000000000000000/users/o1/actions`,
      '{"type":"text","content":"x"}',
    );
    expect(unknown.status).toBe(404);
    expect(
      (await raw('POST', `/sim/mini-programs/${DEMO_APPID}/users/o1/actions`, '{"type":"sms"}')).status,
    ).toBe(400);
    expect((await raw('GET', '/sim/pushes/push_999999')).status).toBe(404);
    const badImage = await raw(
      'POST',
      `/sim/mini-programs/${DEMO_APPID}/users/o1/actions`,
      JSON.stringify({ type: 'image', imageBase64: Buffer.from('not an image').toString('base64') }),
    );
    expect(badImage.status).toBe(422);
  });

  it('reset forgets tokens, grants, pushes and the clock offset', async () => {
    const { accessToken } = await onboard(t);
    await t.control.advanceClock(100);
    await t.control.reset();
    expect(await t.control.now()).toBe(1_750_000_000_000);
    expect(await t.control.tokens()).toEqual([]);
    expect(await t.control.pushes()).toEqual([]);
    expect((await t.control.miniProgram(DEMO_APPID)).authorized).toBe(false);
    const send = await wx(t, '/cgi-bin/message/custom/send', {}, { access_token: accessToken });
    expect(send.body.errcode).toBe(40001);
  });

  it('shows the effective configuration and updates it', async () => {
    const before = await t.control.config();
    expect(before).toMatchObject({ tokenTtlSeconds: 7200, pushAttempts: 3, mediaTtlSeconds: 259_200 });
    await t.control.setConfig({ tokenTtlSeconds: 60, quotas: { daily: 5 } });
    expect(await t.control.config()).toMatchObject({
      tokenTtlSeconds: 60,
      quotas: { daily: 5, perMinute: null },
    });
    const { accessToken } = await onboard(t);
    await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'hi');
    await t.control.advanceClock(60);
    const send = await wx(
      t,
      '/cgi-bin/message/custom/send',
      { touser: DEMO_OPENID, msgtype: 'text', text: { content: 'x' } },
      { access_token: accessToken },
    );
    expect(send.body.errcode).toBe(42001);
  });
});

describe('chat page', () => {
  it('is one self-contained HTML page with the stable element ids', async () => {
    const res = await fetch(`${t.url}/chat`);
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const id of [
      'mini-program',
      'user',
      'open-session',
      'message-input',
      'send',
      'messages',
      'pushes',
      'typing',
    ]) {
      expect(html).toContain(`id="${id}"`);
    }
    expect(html).not.toMatch(/<script src=|<link |https?:\/\/cdn/);
  });

  it('polls one JSON endpoint for the conversation, typing state and pushes', async () => {
    const { accessToken } = await onboard(t);
    await t.control.enterSession(DEMO_APPID, DEMO_OPENID, { wait: true });
    await wx(
      t,
      '/cgi-bin/message/custom/typing',
      { touser: DEMO_OPENID, command: 'Typing' },
      { access_token: accessToken },
    );
    const res = await fetch(`${t.url}/sim/chat/state?appid=${DEMO_APPID}&openid=${DEMO_OPENID}`);
    const state = (await res.json()) as {
      conversation: {
        typing: boolean;
        timeline: Array<{ seq: number; type: string }>;
        window: { remaining: number };
      };
      pushes: Array<{ type: string }>;
    };
    expect(state.conversation.typing).toBe(true);
    expect(state.conversation.window.remaining).toBe(1);
    expect(state.conversation.timeline.map((e) => e.type)).toEqual(['event:user_enter_tempsession']);
    expect(state.pushes.map((p) => p.type)).toContain('event:user_enter_tempsession');
    const since = state.conversation.timeline[0]?.seq ?? 0;
    const next = await fetch(
      `${t.url}/sim/chat/state?appid=${DEMO_APPID}&openid=${DEMO_OPENID}&since=${since}`,
    );
    expect(((await next.json()) as typeof state).conversation.timeline).toEqual([]);
  });

  it('serves a generated sample image', async () => {
    const res = await fetch(`${t.url}/sim/samples/image.png?color=ff0000`);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
  });
});
