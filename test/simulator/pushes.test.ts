import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../../src/simulator/options.js';
import { startTestSimulator, type TestSimulator, unreachableUrl } from '../helpers/simulator.js';
import { DEMO_APPID, DEMO_OPENID, DEMO_USER_NAME, fixedClock, openPush, Receiver } from './support.js';

let t: TestSimulator;
let relay: Receiver;

beforeAll(async () => {
  relay = await new Receiver().start();
  t = await startTestSimulator({ clock: fixedClock, relayBaseUrl: relay.url, pushTimeoutMs: 200 });
});
afterAll(async () => {
  await t.close();
  await relay.stop();
});
beforeEach(async () => {
  await t.control.reset();
  await t.control.setConfig({ relayBaseUrl: relay.url, pushTimeoutMs: 200 });
  relay.received.length = 0;
  relay.queue = [];
  relay.fallback = 'success';
});

describe('delivery', () => {
  it('retries until success: fail, fail, success → 3 attempts recorded', async () => {
    relay.queue = ['fail', 'error500'];
    const { push } = await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'hello', { wait: true });
    expect(push.status).toBe('delivered');
    expect(push.attempts.map((a) => [a.n, a.status, a.body, a.ok])).toEqual([
      [1, 200, 'fail', false],
      [2, 500, 'oops', false],
      [3, 200, 'success', true],
    ]);
    expect(push.attempts[1]?.error).toBe('HTTP 500');
    expect(relay.received).toHaveLength(3);
    // WeChat re-sends the same push: same body, same signatures.
    expect(new Set(relay.received.map((r) => r.body)).size).toBe(1);
    expect(new Set(relay.received.map((r) => r.query.msg_signature)).size).toBe(1);
  });

  it('accepts an empty 200 body as an acknowledgement', async () => {
    relay.queue = ['empty'];
    const { push } = await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'x', { wait: true });
    expect(push.attempts).toHaveLength(1);
    expect(push.status).toBe('delivered');
  });

  it('times out a hanging receiver after pushTimeoutMs, three times, then fails', async () => {
    relay.fallback = 'hang';
    const { push } = await t.control.enterSession(DEMO_APPID, DEMO_OPENID, { wait: true });
    expect(push.status).toBe('failed');
    expect(push.attempts).toHaveLength(3);
    for (const a of push.attempts) {
      expect(a.error).toBe('timeout after 200 ms');
      expect(a.status).toBeNull();
      expect(a.durationMs).toBeGreaterThanOrEqual(190);
    }
    expect(await t.control.pushes({ status: 'failed' })).toHaveLength(1);
  });

  it('re-sends pushRetryDelayMs after the previous attempt began, after a fast failure too (WeChat: 5 s)', async () => {
    expect(resolveConfig({ ...t.credentials, relayBaseUrl: relay.url }).pushRetryDelayMs).toBe(5000);
    await t.control.setConfig({ pushRetryDelayMs: 300 });
    relay.queue = ['error500', 'fail'];
    const started = Date.now();
    const { push } = await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'x', { wait: true });
    expect(push.attempts.map((a) => a.ok)).toEqual([false, false, true]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });

  it('records connection errors and honours pushAttempts', async () => {
    await t.control.setConfig({ relayBaseUrl: await unreachableUrl(), pushAttempts: 2 });
    const { push } = await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'x', { wait: true });
    expect(push.attempts.map((a) => a.error)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
  });

  it('without wait answers 202 at once with the pending push', async () => {
    relay.queue = ['hang'];
    const res = await fetch(`${t.url}/sim/mini-programs/${DEMO_APPID}/users/${DEMO_OPENID}/actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'text', content: 'x' }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { push: { id: string; status: string } };
    expect(body.push.status).toBe('pending');
    await t.control.idle();
    expect((await t.control.push(body.push.id)).status).toBe('delivered');
  });
});

describe('what is pushed', () => {
  it('encrypts like WeChat: ToUserName envelope, component tail appid, openid in the query, sig3 and sig4', async () => {
    const { push } = await t.control.sendText(DEMO_APPID, DEMO_OPENID, '你好 <b>&', { wait: true });
    expect(push.status).toBe('delivered');
    const received = relay.received[0]!;
    expect(received.path).toBe(`/wechat/callback/${DEMO_APPID}`);
    expect(Object.keys(received.query)).toEqual([
      'signature',
      'timestamp',
      'nonce',
      'openid',
      'encrypt_type',
      'msg_signature',
    ]);
    expect(received.query.encrypt_type).toBe('aes');
    expect(received.query.openid).toBe(DEMO_OPENID);
    expect(received.query.timestamp).toBe('1750000000');
    expect(received.body).toMatch(/^<xml><ToUserName><!\[CDATA\[gh_5a1b2c3d4e5f\]\]><\/ToUserName><Encrypt>/);
    const opened = openPush(t.credentials, received);
    expect(opened.verified).toBe(true);
    expect(opened.verified3).toBe(true);
    expect(opened.tailAppid).toBe(t.credentials.componentAppid);
    expect(opened.fields).toMatchObject({
      ToUserName: DEMO_USER_NAME,
      FromUserName: DEMO_OPENID,
      CreateTime: '1750000000',
      MsgType: 'text',
      Content: '你好 <b>&',
    });
    // MsgIds are above 2^53 and written bare.
    expect(opened.fields.MsgId).toMatch(/^\d{19}$/);
    expect(BigInt(opened.fields.MsgId ?? 0) > 2n ** 53n).toBe(true);
    expect(opened.plaintext).toMatch(/<MsgId>\d{19}<\/MsgId>/);
  });

  it('pushes enter-session (SessionFrom, no MsgId), image, card and arbitrary events', async () => {
    await t.control.enterSession(DEMO_APPID, DEMO_OPENID, { sessionFrom: 'order:42', wait: true });
    await t.control.sendImage(DEMO_APPID, DEMO_OPENID, { wait: true });
    await t.control.userAction(
      DEMO_APPID,
      DEMO_OPENID,
      { type: 'miniprogrampage', title: '商品', pagePath: 'pages/item/item?id=1' },
      { wait: true },
    );
    await t.control.sendEvent(
      DEMO_APPID,
      DEMO_OPENID,
      'debug_demo',
      { debug_str: 'hello world' },
      { wait: true },
    );
    await t.control.userAction(
      DEMO_APPID,
      DEMO_OPENID,
      { type: 'message', msgType: 'voice', fields: { MediaId: 'm' } },
      { wait: true },
    );
    const [enter, image, card, event, voice] = relay.received.map((r) => openPush(t.credentials, r).fields);
    expect(enter).toMatchObject({
      MsgType: 'event',
      Event: 'user_enter_tempsession',
      SessionFrom: 'order:42',
    });
    expect(enter?.MsgId).toBeUndefined();
    expect(image).toMatchObject({ MsgType: 'image' });
    expect(image?.PicUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sim\/media\//);
    expect(image?.MediaId).toBeTruthy();
    expect(card).toMatchObject({
      MsgType: 'miniprogrampage',
      Title: '商品',
      AppId: DEMO_APPID,
      PagePath: 'pages/item/item?id=1',
    });
    expect(card?.ThumbMediaId).toBeTruthy();
    expect(card?.ThumbUrl).toBeTruthy();
    expect(event).toMatchObject({ MsgType: 'event', Event: 'debug_demo', debug_str: 'hello world' });
    expect(voice).toMatchObject({ MsgType: 'voice', MediaId: 'm' });
    const pushes = await t.control.pushes({ appid: DEMO_APPID });
    expect(pushes.map((p) => p.type)).toEqual([
      'event:user_enter_tempsession',
      'image',
      'miniprogrampage',
      'event:debug_demo',
      'voice',
    ]);
  });

  it('pushes component events with an AppId envelope and no openid', async () => {
    const { ticket } = await t.control.pushTicket({ wait: true });
    const received = relay.received[0]!;
    expect(received.path).toBe('/wechat/component');
    expect(received.query.openid).toBeUndefined();
    expect(
      received.body.startsWith(`<xml><AppId><![CDATA[${t.credentials.componentAppid}]]></AppId><Encrypt>`),
    ).toBe(true);
    const opened = openPush(t.credentials, received);
    expect(opened.fields).toEqual({
      AppId: t.credentials.componentAppid,
      CreateTime: '1750000000',
      InfoType: 'component_verify_ticket',
      ComponentVerifyTicket: ticket,
    });
  });

  it('uses the given MsgId and CreateTime when a test needs to replay a push', async () => {
    await t.control.sendText(DEMO_APPID, DEMO_OPENID, 'x', {
      msgId: '9223372036854775807',
      createTime: 1_700_000_000,
      wait: true,
    });
    const fields = openPush(t.credentials, relay.received[0]!).fields;
    expect(fields.MsgId).toBe('9223372036854775807');
    expect(fields.CreateTime).toBe('1700000000');
  });

  it('sends the ticket on start and on a timer when configured so', async () => {
    const other = await startTestSimulator({
      relayBaseUrl: relay.url,
      pushTicketOnStart: true,
      ticketIntervalMs: 50,
    });
    try {
      const first = await other.control.pushes({ type: 'component_verify_ticket' });
      expect(first.length).toBeGreaterThanOrEqual(1);
      await vi.waitFor(async () => {
        expect(
          (await other.control.pushes({ type: 'component_verify_ticket' })).length,
        ).toBeGreaterThanOrEqual(3);
      });
    } finally {
      await other.close();
    }
  });
});
