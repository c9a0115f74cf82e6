import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type TestHarness } from '../../helpers/app.js';
import { callbackPath } from '../../helpers/pushes.js';
import { message, vector } from '../../unit/wechat/vectors.js';
import { seedEndpoint, seedHeldMiniProgram } from './seed.js';

// The crypto vectors of wechat-protocol.md (test-vectors.json), posted as WeChat would post them.
const E = vector('E');
const D2 = vector('D2');
const ePush = message('E', 'push') as ReturnType<typeof message> & { query: Record<string, string> };
const d2Push = message('D2', 'push');
const gPush = message('G', 'push');
const E_APPID = E.authorizerAppId as string;
const D2_APPID = D2.appId as string;
const D2_VERIFY = D2.urlVerify as NonNullable<typeof D2.urlVerify>;

const keys = (componentAppid: string) => ({
  WECHAT_COMPONENT_TOKEN: E.token,
  WECHAT_COMPONENT_AES_KEY: E.encodingAESKey,
  WECHAT_COMPONENT_APPID: componentAppid,
});

async function eventFor(h: TestHarness, appid: string, dedupeKey: string) {
  const rows = await h.deps.db.query<{ type: string; data: Record<string, unknown> }>(
    `SELECT e.type, e.data FROM pushes p JOIN events e ON e.id = p.event_id WHERE p.appid = $1 AND p.dedupe_key = $2`,
    [appid, dedupeKey],
  );
  return rows[0];
}

describe('vectors E and G: pushes through the platform (tail = component appid)', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await createHarness({ env: keys(E.componentAppId as string) });
    const mp = await seedHeldMiniProgram(h, { appid: E_APPID, userName: ePush.toUserName as string });
    await seedEndpoint(h, mp.tenantId);
  });
  afterAll(async () => {
    await h.close();
  });

  const post = (query: Record<string, string>, body: string) =>
    h.request(callbackPath(E_APPID, query), {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/xml' },
    });

  it('E (official debug_demo event) is accepted and becomes wechat.event', async () => {
    const res = await post(ePush.query, ePush.body as string);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('success');
    const event = await eventFor(h, E_APPID, 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY|1715943329|debug_demo');
    expect(event).toEqual({
      type: 'wechat.event',
      data: {
        openid: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY',
        event: 'debug_demo',
        createTime: '2024-05-17T10:55:29.000Z',
        raw: {
          ToUserName: 'gh_97417a04a28d',
          FromUserName: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY',
          CreateTime: '1715943329',
          MsgType: 'event',
          Event: 'debug_demo',
          debug_str: 'hello world',
        },
      },
    });
  });

  it('G (text with a 64-bit MsgId) keeps the MsgId exact', async () => {
    const query = {
      signature: gPush.signature as string,
      timestamp: gPush.timestamp,
      nonce: gPush.nonce,
      openid: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY',
      encrypt_type: 'aes',
      msg_signature: gPush.msgSignature,
    };
    const res = await post(query, gPush.body as string);
    expect(await res.text()).toBe('success');
    const event = await eventFor(h, E_APPID, '25495331247649341');
    expect(event?.type).toBe('message.received');
    expect(event?.data).toMatchObject({
      msgId: '25495331247649341',
      text: { content: '你好' },
      raw: gPush.expectedFields,
    });
  });

  it("D2 (a mini-program's own push, tail = its appid) is refused here: 401", async () => {
    const query = { timestamp: d2Push.timestamp, nonce: d2Push.nonce, msg_signature: d2Push.msgSignature };
    const res = await post(query, d2Push.body as string);
    expect(res.status).toBe(401);
  });
});

describe('vector D2: the JSON envelope and URL verification', () => {
  let h: TestHarness;
  beforeAll(async () => {
    // Configured as if D2's mini-program appid were the component: its tail appid then matches.
    h = await createHarness({ env: keys(D2_APPID) });
  });
  afterAll(async () => {
    await h.close();
  });

  it('the JSON push decrypts, its numbers come through as text, and it is stored', async () => {
    const query = { timestamp: d2Push.timestamp, nonce: d2Push.nonce, msg_signature: d2Push.msgSignature };
    const res = await h.request(callbackPath(D2_APPID, query), {
      method: 'POST',
      body: d2Push.body as string,
    });
    expect(await res.text()).toBe('success');
    const rows = await h.deps.db.query<{
      dedupe_key: string;
      raw: Record<string, string>;
      create_time: number;
    }>('SELECT dedupe_key, raw, create_time FROM pushes WHERE appid = $1', [D2_APPID]);
    expect(rows).toEqual([
      {
        dedupe_key: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY|1714112445|debug_demo',
        create_time: 1714112445,
        raw: JSON.parse(d2Push.plaintext.replace('1714112445', '"1714112445"')),
      },
    ]);
  });

  it('urlVerify: echostr comes back unchanged', async () => {
    const v = D2_VERIFY;
    const res = await h.request(
      `/wechat/callback/${D2_APPID}?signature=${v.signature}&timestamp=${v.timestamp}&nonce=${v.nonce}&echostr=${v.echostr}`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe(v.echostr);
  });
});
