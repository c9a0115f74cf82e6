import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { DEMO_APPID, DEMO_OPENID, fixedClock, onboard, wx } from './support.js';

let t: TestSimulator;
let token: string;
let elapsed = 0;

/** Moves the simulator clock to `s` seconds after the start of the test. */
async function at(s: number): Promise<void> {
  if (s < elapsed) throw new Error('time only moves forward');
  if (s > elapsed) await t.control.advanceClock(s - elapsed);
  elapsed = s;
}

const send = async (content = 'hello', openid = DEMO_OPENID, accessToken = token) =>
  (
    await wx(
      t,
      '/cgi-bin/message/custom/send',
      { touser: openid, msgtype: 'text', text: { content } },
      {
        access_token: accessToken,
      },
    )
  ).body.errcode;
const typing = async (command: string, openid = DEMO_OPENID) =>
  (await wx(t, '/cgi-bin/message/custom/typing', { touser: openid, command }, { access_token: token })).body
    .errcode;
const enter = () => t.control.enterSession(DEMO_APPID, DEMO_OPENID);
const message = (content = 'hi') => t.control.sendText(DEMO_APPID, DEMO_OPENID, content);

beforeAll(async () => {
  // Tokens outlive the two-day windows here; expiry itself is tested below and in component-token.test.ts.
  t = await startTestSimulator({ clock: fixedClock, tokenTtlSeconds: 864_000 });
});
afterAll(() => t.close());
beforeEach(async () => {
  await t.control.reset();
  token = (await onboard(t)).accessToken;
  elapsed = 0;
});

describe('send window (wechat-protocol.md §7 worked examples)', () => {
  it('1: no action → 45015; enter session → 1 send, then 45047', async () => {
    expect(await send()).toBe(45015);
    await at(5);
    await enter();
    await at(10);
    expect(await send()).toBe(0);
    await at(20);
    expect(await send()).toBe(45047);
  });

  it('2: the enter-session window ends exclusive at 60 s', async () => {
    await enter();
    await at(59);
    expect(await send()).toBe(0);
    await t.control.reset();
    token = (await onboard(t)).accessToken;
    elapsed = 0;
    await enter();
    await at(60);
    expect(await send()).toBe(45015);
  });

  it('3: a user message allows 5 sends; another message resets to 5, not more', async () => {
    await message();
    for (let s = 1; s <= 5; s++) {
      await at(s);
      expect(await send()).toBe(0);
    }
    await at(6);
    expect(await send()).toBe(45047);
    await at(100);
    await message();
    await at(101);
    expect(await send()).toBe(0);
    const view = await t.control.conversation(DEMO_APPID, DEMO_OPENID);
    expect(view.window).toEqual({ open: true, remaining: 4, deadline: 1_750_000_000 + 172_900 });
  });

  it('4: two messages do not add up and typing does not consume', async () => {
    await message();
    await at(10);
    await message();
    await at(11);
    expect(await typing('Typing')).toBe(0);
    for (let s = 12; s <= 16; s++) {
      await at(s);
      expect(await send()).toBe(0);
    }
    await at(17);
    expect(await send()).toBe(45047);
  });

  it('5: the enter-session count lives until the longer deadline', async () => {
    await enter();
    await at(30);
    await message();
    for (let s = 31; s <= 34; s++) {
      await at(s);
      expect(await send()).toBe(0);
    }
    await at(3600);
    await enter();
    await at(3601);
    expect(await send()).toBe(0);
    await at(7200);
    await enter();
    await at(100_000);
    expect(await send()).toBe(0);
  });

  it('6: after expiry an enter session gives 1/60 s again', async () => {
    await message();
    await at(172_900);
    await enter();
    await at(172_901);
    expect(await send()).toBe(0);
    await at(172_902);
    expect(await send()).toBe(45047);
    await at(172_960);
    expect(await send()).toBe(45015);
  });

  it('limits are configurable (2/60 s for entering the session)', async () => {
    await t.control.setConfig({ sendWindow: { enterSession: { count: 2, seconds: 60 } } });
    await enter();
    expect(await send()).toBe(0);
    expect(await send()).toBe(0);
    expect(await send()).toBe(45047);
  });

  it('the control API can set the window state', async () => {
    await t.control.setWindow(DEMO_APPID, DEMO_OPENID, { remaining: 0, deadline: 1_750_000_000 + 100 });
    expect(await send()).toBe(45047);
    await t.control.setWindow(DEMO_APPID, DEMO_OPENID, { remaining: 3 });
    expect(await send()).toBe(0);
    await t.control.setWindow(DEMO_APPID, DEMO_OPENID, { deadline: null });
    expect(await send()).toBe(45015);
  });
});

describe('custom/send checks', () => {
  it('records each accepted message with appid, openid, body and time', async () => {
    await message();
    expect(await send('你好')).toBe(0);
    const messages = await t.control.messages({ appid: DEMO_APPID });
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      appid: DEMO_APPID,
      openid: DEMO_OPENID,
      msgtype: 'text',
      at: 1_750_000_000_000,
      body: { touser: DEMO_OPENID, msgtype: 'text', text: { content: '你好' } },
    });
    const view = await t.control.conversation(DEMO_APPID, DEMO_OPENID);
    expect(view.timeline.map((e) => [e.from, e.type])).toEqual([
      ['user', 'text'],
      ['tenant', 'text'],
    ]);
  });

  it('answers 40003 for openids the mini-program does not know yet', async () => {
    expect(await send('x', 'oNobody')).toBe(40003);
    const user = await t.control.createUser(DEMO_APPID);
    expect(user.known).toBe(false);
    expect(await send('x', user.openid)).toBe(40003);
    await t.control.sendText(DEMO_APPID, user.openid, 'first words');
    expect(await send('x', user.openid)).toBe(0);
    // An openid of another mini-program is unknown here too.
    expect(await send('x', 'oDemoUser0000000000000000002')).toBe(40003);
  });

  it('answers 48001 for a component token or a grant without 19, 61007 when the platform lacks 19', async () => {
    await message();
    const { componentToken } = await onboard(t, 'wx6b2c3d4e5f6a7b8c', [17, 18]);
    expect(await send('x', DEMO_OPENID, componentToken)).toBe(48001);
    const without19 = await onboard(t, 'wx6b2c3d4e5f6a7b8c', [17, 18], componentToken);
    await t.control.sendText('wx6b2c3d4e5f6a7b8c', 'oDemoUser0000000000000000002', 'hi');
    expect(await send('x', 'oDemoUser0000000000000000002', without19.accessToken)).toBe(48001);
    await t.control.setConfig({ platformPermissions: [17, 18] });
    expect(await send()).toBe(61007);
  });

  it('validates bodies: 45002, 47001, 40008, media 40007, business 40101', async () => {
    await message();
    const post = async (body: unknown, path = '/cgi-bin/message/custom/send') =>
      (await wx(t, path, body, { access_token: token })).body.errcode;
    expect(await send('a'.repeat(2049))).toBe(45002);
    expect(await send('好'.repeat(682))).toBe(0);
    expect(await post('{"touser":')).toBe(47001);
    expect(await post({ touser: DEMO_OPENID, msgtype: 'text', text: {} })).toBe(47001);
    expect(await post({ touser: DEMO_OPENID, msgtype: 'voice', voice: {} })).toBe(40008);
    expect(await post({ touser: DEMO_OPENID, msgtype: 'image', image: { media_id: 'nope' } })).toBe(40007);
    const card = { title: 'T', pagepath: 'pages/index/index', thumb_media_id: 'nope' };
    expect(await post({ touser: DEMO_OPENID, msgtype: 'miniprogrampage', miniprogrampage: card })).toBe(
      40007,
    );
    const link = {
      title: 'T',
      description: 'D',
      url: 'https://example.com',
      thumb_url: 'https://example.com/t.png',
    };
    expect(await post({ touser: DEMO_OPENID, msgtype: 'link', link })).toBe(0);
    const text = { touser: DEMO_OPENID, msgtype: 'text', text: { content: 'b' } };
    expect(await post(text, '/cgi-bin/message/custom/business/send')).toBe(40101);
    expect(await post({ ...text, businessid: 1 }, '/cgi-bin/message/custom/business/send')).toBe(0);
  });

  it('checks authorizer tokens: 40001 unknown, 42001 expired, 40014 invalidated, grace after refresh', async () => {
    await message();
    expect(await send('x', DEMO_OPENID, 'nope')).toBe(40001);
    await t.control.invalidateToken('authorizer', DEMO_APPID);
    expect(await send()).toBe(40014);

    const again = await onboard(t);
    token = again.accessToken;
    const refreshed = await wx(
      t,
      '/cgi-bin/component/api_authorizer_token',
      {
        component_appid: t.credentials.componentAppid,
        authorizer_appid: DEMO_APPID,
        authorizer_refresh_token: again.refreshToken,
      },
      { component_access_token: again.componentToken },
    );
    const newer = String(refreshed.body.authorizer_access_token);
    expect(await send()).toBe(0);
    await at(300);
    expect(await send()).toBe(40001);
    expect(await send('x', DEMO_OPENID, newer)).toBe(0);
    await at(864_000);
    expect(await send('x', DEMO_OPENID, newer)).toBe(42001);
  });
});

describe('typing (§5.2)', () => {
  it('rejects bad commands with 45072 and typing without a recent exchange with 45080', async () => {
    await message();
    expect(await typing('typing')).toBe(45072);
    await at(31);
    expect(await typing('Typing')).toBe(45080);
    expect(await typing('CancelTyping')).toBe(0);
  });

  it('lasts 15 s (45081 meanwhile); CancelTyping and a sent message end it', async () => {
    await message();
    expect(await typing('Typing')).toBe(0);
    expect((await t.control.typing({ appid: DEMO_APPID }))[0]?.typing).toBe(true);
    await at(5);
    expect(await typing('Typing')).toBe(45081);
    await at(15);
    expect(await typing('Typing')).toBe(0);
    expect(await typing('CancelTyping')).toBe(0);
    expect(await typing('Typing')).toBe(0);
    expect(await send()).toBe(0);
    expect((await t.control.conversation(DEMO_APPID, DEMO_OPENID)).typing).toBe(false);
    expect(await typing('Typing')).toBe(0);
  });

  it('needs an open window (45015) and a known openid (40003)', async () => {
    expect(await typing('Typing')).toBe(45015);
    expect(await typing('Typing', 'oNobody')).toBe(40003);
  });
});
