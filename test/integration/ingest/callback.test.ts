import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idPattern } from '../../../src/ids.js';
import { classifyPush } from '../../../src/ingest/classify.js';
import { closeIngest } from '../../../src/ingest/ingestor.js';
import { type PushToStore, storePushes } from '../../../src/ingest/store.js';
import { WeChatCrypto } from '../../../src/wechat/crypto.js';
import { COMPONENT, createHarness, type TestHarness } from '../../helpers/app.js';
import {
  type BuiltPush,
  callbackPath,
  encryptedPush,
  payloadText,
  pushOf,
  textFields,
} from '../../helpers/pushes.js';
import {
  countRows,
  freshAppid,
  freshOpenid,
  type HeldMiniProgram,
  seedEndpoint,
  seedHeldMiniProgram,
} from './seed.js';

let h: TestHarness;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

const post = (p: BuiltPush, init: RequestInit = {}) =>
  h.request(p.path, { method: 'POST', body: p.body, headers: { 'content-type': 'text/xml' }, ...init });

async function expectSuccess(p: BuiltPush): Promise<void> {
  const res = await post(p);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  expect(await res.text()).toBe('success');
}

interface EventRow {
  id: string;
  type: string;
  appid: string;
  tenant_id: string;
  data: Record<string, unknown>;
}

async function eventsOf(appid: string): Promise<EventRow[]> {
  return h.deps.db.query<EventRow>(
    `SELECT e.id, e.type, e.appid, e.tenant_id, e.data FROM pushes p JOIN events e ON e.id = p.event_id
     WHERE p.appid = $1 ORDER BY p.id`,
    [appid],
  );
}

async function held(): Promise<HeldMiniProgram & { endpointId: string }> {
  const mp = await seedHeldMiniProgram(h);
  return { ...mp, endpointId: await seedEndpoint(h, mp.tenantId) };
}

const iso = (unix: number) => new Date(unix * 1000).toISOString();

describe('POST /wechat/callback/:appid — each push type becomes its event', () => {
  it('text: message.received with text.content, one delivery, the 5/48 h window opened', async () => {
    const mp = await held();
    const openid = freshOpenid();
    const fields = textFields(openid, '你好 <b>&amp;', { createTime: 1_715_943_329 });
    await expectSuccess(pushOf(h.deps.crypto, mp, fields));

    const [event] = await eventsOf(mp.appid);
    expect(event?.type).toBe('message.received');
    expect(event?.tenant_id).toBe(mp.tenantId);
    expect(event?.data).toEqual({
      openid,
      msgId: fields.MsgId,
      msgType: 'text',
      createTime: iso(1_715_943_329),
      text: { content: '你好 <b>&amp;' },
      raw: { ToUserName: mp.userName, ...fields },
    });
    expect(
      await countRows(h, 'deliveries', 'event_id = $1 AND endpoint_id = $2', [event?.id, mp.endpointId]),
    ).toBe(1);
    const [conv] = await h.deps.db.query<{ remaining: number; deadline: Date; last_inbound_at: Date }>(
      'SELECT remaining, deadline, last_inbound_at FROM conversations WHERE appid = $1 AND openid = $2',
      [mp.appid, openid],
    );
    expect(conv?.remaining).toBe(5);
    expect(conv?.deadline.toISOString()).toBe(iso(1_715_943_329 + 48 * 3600));
    expect(conv?.last_inbound_at).toBeInstanceOf(Date);
  });

  it('image and miniprogrampage carry their fields', async () => {
    const mp = await held();
    const openid = freshOpenid();
    const base = { FromUserName: openid, CreateTime: '1715943400' };
    await expectSuccess(
      pushOf(h.deps.crypto, mp, {
        ...base,
        MsgType: 'image',
        PicUrl: 'https://mmbiz.example/pic.jpg',
        MediaId: 'media-1',
        MsgId: '25495331247649342',
      }),
    );
    await expectSuccess(
      pushOf(h.deps.crypto, mp, {
        ...base,
        MsgType: 'miniprogrampage',
        MsgId: '25495331247649343',
        Title: 'Shoes',
        AppId: mp.appid,
        PagePath: 'pages/item?id=1',
        ThumbUrl: 'https://mmbiz.example/thumb.jpg',
        ThumbMediaId: 'thumb-1',
      }),
    );
    const [image, card] = await eventsOf(mp.appid);
    expect(image?.data).toMatchObject({
      msgType: 'image',
      msgId: '25495331247649342',
      image: { picUrl: 'https://mmbiz.example/pic.jpg', mediaId: 'media-1' },
    });
    expect(image?.data).not.toHaveProperty('text');
    expect(card?.data).toMatchObject({
      msgType: 'miniprogrampage',
      createTime: iso(1_715_943_400),
      miniprogrampage: {
        title: 'Shoes',
        appid: mp.appid,
        pagePath: 'pages/item?id=1',
        thumbUrl: 'https://mmbiz.example/thumb.jpg',
        thumbMediaId: 'thumb-1',
      },
    });
  });

  it('user_enter_tempsession: session.entered and the 1/60 s window; another event: wechat.event', async () => {
    const mp = await held();
    const openid = freshOpenid();
    const enter = {
      FromUserName: openid,
      CreateTime: '1715943500',
      MsgType: 'event',
      Event: 'user_enter_tempsession',
      SessionFrom: 'cart',
    };
    await expectSuccess(pushOf(h.deps.crypto, mp, enter));
    const other = {
      FromUserName: openid,
      CreateTime: '1715943501',
      MsgType: 'event',
      Event: 'debug_demo',
      debug_str: 'hi',
    };
    await expectSuccess(pushOf(h.deps.crypto, mp, other));

    const [session, wechatEvent] = await eventsOf(mp.appid);
    expect(session?.type).toBe('session.entered');
    expect(session?.data).toEqual({
      openid,
      sessionFrom: 'cart',
      createTime: iso(1_715_943_500),
      raw: { ToUserName: mp.userName, ...enter },
    });
    expect(wechatEvent?.type).toBe('wechat.event');
    expect(wechatEvent?.data).toEqual({
      openid,
      event: 'debug_demo',
      createTime: iso(1_715_943_501),
      raw: { ToUserName: mp.userName, ...other },
    });
    const [conv] = await h.deps.db.query<{ remaining: number; deadline: Date }>(
      'SELECT remaining, deadline FROM conversations WHERE appid = $1 AND openid = $2',
      [mp.appid, openid],
    );
    // only the session entry counts; debug_demo is no user action
    expect(conv).toEqual({ remaining: 1, deadline: new Date((1_715_943_500 + 60) * 1000) });
  });

  it('an unknown MsgType is a user message too', async () => {
    const mp = await held();
    const openid = freshOpenid();
    const fields = {
      FromUserName: openid,
      CreateTime: '1715943600',
      MsgType: 'video',
      MediaId: 'v',
      MsgId: '25495331247649399',
    };
    await expectSuccess(pushOf(h.deps.crypto, mp, fields));
    const [event] = await eventsOf(mp.appid);
    expect(event?.type).toBe('message.received');
    expect(event?.data).toEqual({
      openid,
      msgId: '25495331247649399',
      msgType: 'video',
      createTime: iso(1_715_943_600),
      raw: { ToUserName: mp.userName, ...fields },
    });
    expect(await countRows(h, 'conversations', 'appid = $1 AND remaining = 5', [mp.appid])).toBe(1);
  });

  it.each(['xml', 'json'] as const)(
    'a 17-digit MsgId above 2^53 stays exact (%s envelope)',
    async (format) => {
      const mp = await held();
      const msgId = '25495331247649341'; // Number() would make it …340
      await expectSuccess(pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'x', { msgId }), { format }));
      const [event] = await eventsOf(mp.appid);
      expect(event?.data.msgId).toBe(msgId);
      expect(event?.data.raw).toMatchObject({ MsgId: msgId });
      const [row] = await h.deps.db.query<{ msg_id: string; dedupe_key: string }>(
        'SELECT msg_id, dedupe_key FROM pushes WHERE appid = $1',
        [mp.appid],
      );
      expect(row).toEqual({ msg_id: msgId, dedupe_key: msgId });
    },
  );
});

describe('stored exactly once', () => {
  it('the same push three times: one push row, one event, one delivery, success each time', async () => {
    const mp = await held();
    const push = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'again'));
    for (let i = 0; i < 3; i++) await expectSuccess(push);
    expect(await countRows(h, 'pushes', 'appid = $1', [mp.appid])).toBe(1);
    expect(await countRows(h, 'events', 'appid = $1', [mp.appid])).toBe(1);
    expect(await countRows(h, 'deliveries', 'tenant_id = $1', [mp.tenantId])).toBe(1);
  });

  it('an event retried (same FromUserName, CreateTime, Event) is one push; another CreateTime is another', async () => {
    const mp = await held();
    const openid = freshOpenid();
    const enter = (t: string) => ({
      FromUserName: openid,
      CreateTime: t,
      MsgType: 'event',
      Event: 'user_enter_tempsession',
      SessionFrom: '',
    });
    await expectSuccess(pushOf(h.deps.crypto, mp, enter('1715943700')));
    await expectSuccess(pushOf(h.deps.crypto, mp, enter('1715943700'))); // re-encrypted: another body, same key
    await expectSuccess(pushOf(h.deps.crypto, mp, enter('1715943701')));
    const keys = await h.deps.db.query<{ dedupe_key: string }>(
      'SELECT dedupe_key FROM pushes WHERE appid = $1 ORDER BY dedupe_key',
      [mp.appid],
    );
    expect(keys.map((k) => k.dedupe_key)).toEqual([
      `${openid}|1715943700|user_enter_tempsession`,
      `${openid}|1715943701|user_enter_tempsession`,
    ]);
    expect(await countRows(h, 'events', 'appid = $1', [mp.appid])).toBe(2);
  });

  it('duplicates inside one batch: one row, one event; concurrent retries over HTTP agree', async () => {
    const mp = await held();
    const push = classifyPush({ ToUserName: mp.userName, ...textFields(freshOpenid(), 'twice') });
    const item: PushToStore = { appid: mp.appid, push, releaseTest: false };
    const outcomes = await storePushes(h.deps, [item, { ...item }, { ...item }]);
    expect(outcomes.map((o) => o.result)).toEqual(['stored', 'duplicate', 'duplicate']);
    expect(await countRows(h, 'pushes', 'appid = $1', [mp.appid])).toBe(1);
    expect(await countRows(h, 'events', 'appid = $1', [mp.appid])).toBe(1);

    const again = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'racing'));
    const answers = await Promise.all([post(again), post(again), post(again)]);
    expect(await Promise.all(answers.map((r) => r.text()))).toEqual(['success', 'success', 'success']);
    expect(await countRows(h, 'pushes', 'appid = $1', [mp.appid])).toBe(2);
    expect(await countRows(h, 'deliveries', 'tenant_id = $1', [mp.tenantId])).toBe(2);
  });

  it('two pushes of one user in one batch: windows applied in order, deliveries per matching endpoint', async () => {
    const mp = await held();
    const sessionsOnly = `wep_${randomBytes(8).toString('hex')}`;
    await h.deps.db.query(
      `INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc, event_types)
       VALUES ($1, $2, 'http://127.0.0.1:9/hook', 'x', '{session.entered}')`,
      [sessionsOnly, mp.tenantId],
    );
    const user = freshOpenid();
    const other = freshOpenid();
    const item = (fields: Record<string, string>): PushToStore => ({
      appid: mp.appid,
      push: classifyPush({ ToUserName: mp.userName, ...fields }),
      releaseTest: false,
    });
    const enter = {
      FromUserName: user,
      CreateTime: '1715943700',
      MsgType: 'event',
      Event: 'user_enter_tempsession',
      SessionFrom: '',
    };
    const hello = { ...textFields(user, 'hello'), CreateTime: '1715943710' };
    const outcomes = await storePushes(h.deps, [item(enter), item(hello), item(textFields(other, 'hi'))]);
    expect(outcomes.map((o) => o.result)).toEqual(['stored', 'stored', 'stored']);
    const stored = await h.deps.db.query<{ raw: Record<string, string> }>(
      'SELECT raw FROM pushes WHERE appid = $1 AND openid = $2 ORDER BY create_time',
      [mp.appid, user],
    );
    expect(stored.map((r) => r.raw)).toEqual([
      { ToUserName: mp.userName, ...enter },
      { ToUserName: mp.userName, ...hello },
    ]);
    const [windowRow] = await h.deps.db.query<{ remaining: number; deadline: Date }>(
      'SELECT remaining, deadline FROM conversations WHERE appid = $1 AND openid = $2',
      [mp.appid, user],
    );
    // enter (1 for 60 s), then a message 10 s later: 5 until 48 h after the message, not 6
    expect(windowRow).toEqual({ remaining: 5, deadline: new Date((1715943710 + 48 * 3600) * 1000) });
    const deliveries = await h.deps.db.query<{ id: string; endpoint_id: string; type: string }>(
      `SELECT d.id, d.endpoint_id, e.type FROM deliveries d JOIN events e ON e.id = d.event_id
       WHERE d.tenant_id = $1 ORDER BY d.id`,
      [mp.tenantId],
    );
    expect(deliveries.filter((d) => d.endpoint_id === mp.endpointId)).toHaveLength(3);
    expect(deliveries.filter((d) => d.endpoint_id === sessionsOnly).map((d) => d.type)).toEqual([
      'session.entered',
    ]);
    for (const d of deliveries) expect(d.id).toMatch(idPattern('dlv'));
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(4);
  });

  it("wakes the delivery workers at commit with a NOTIFY that names the deliveries' endpoints", async () => {
    const mp = await held();
    const payloads: string[] = [];
    const unlisten = await h.deps.db.listen('kefu_deliveries', (p) => payloads.push(p));
    try {
      await expectSuccess(pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'wake up')));
      for (let i = 0; i < 100 && !payloads.includes(mp.endpointId); i++)
        await new Promise((r) => setTimeout(r, 10));
    } finally {
      await unlisten();
    }
    expect(payloads).toContain(mp.endpointId);
  });

  it('many distinct pushes at once: every one stored with its own event', async () => {
    const mp = await held();
    const pushes = Array.from({ length: 40 }, (_, i) =>
      pushOf(h.deps.crypto, mp, textFields(freshOpenid(), `m${i}`)),
    );
    const answers = await Promise.all(pushes.map((p) => post(p)));
    expect(answers.map((r) => r.status)).toEqual(pushes.map(() => 200));
    expect(await countRows(h, 'pushes', 'appid = $1 AND event_id IS NOT NULL', [mp.appid])).toBe(40);
    expect(await countRows(h, 'deliveries', 'tenant_id = $1', [mp.tenantId])).toBe(40);
  });
});

describe('appids nobody holds', () => {
  it('an unknown appid: stored, acknowledged, no event', async () => {
    const appid = freshAppid();
    await expectSuccess(
      pushOf(h.deps.crypto, { appid, userName: 'gh_unknown00001' }, textFields(freshOpenid(), 'hi')),
    );
    const rows = await h.deps.db.query<{ tenant_id: string | null; event_id: string | null }>(
      'SELECT tenant_id, event_id FROM pushes WHERE appid = $1',
      [appid],
    );
    expect(rows).toEqual([{ tenant_id: null, event_id: null }]);
    expect(await countRows(h, 'events', 'appid = $1', [appid])).toBe(0);
    expect(await countRows(h, 'conversations', 'appid = $1', [appid])).toBe(0);
  });

  it('an unauthorized appid: stored, no event, no delivery', async () => {
    const mp = await held();
    await h.deps.db.query(`UPDATE authorizers SET status = 'unauthorized' WHERE appid = $1`, [mp.appid]);
    await expectSuccess(pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'anyone?')));
    expect(await countRows(h, 'pushes', 'appid = $1 AND tenant_id IS NULL', [mp.appid])).toBe(1);
    expect(await countRows(h, 'events', 'appid = $1', [mp.appid])).toBe(0);
  });
});

describe('refused pushes store nothing', () => {
  async function expectRefused(
    appid: string,
    res: Response | Promise<Response>,
    status: number,
  ): Promise<void> {
    const r = await res;
    expect(r.status).toBe(status);
    expect(await r.text()).not.toBe('success');
    expect(await countRows(h, 'pushes', 'appid = $1', [appid])).toBe(0);
  }

  it("another mini-program's ToUserName → 401", async () => {
    const mp = await held();
    const push = pushOf(
      h.deps.crypto,
      { appid: mp.appid, userName: 'gh_someoneelse1' },
      textFields(freshOpenid(), 'x'),
    );
    await expectRefused(mp.appid, post(push), 401);
  });

  it("a held mini-program's push replayed to another appid's URL → 401, stored under neither", async () => {
    const mp = await held();
    const push = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'replayed'));
    const elsewhere = freshAppid();
    await expectRefused(elsewhere, post({ ...push, path: callbackPath(elsewhere, push.query) }), 401);
    expect(await countRows(h, 'pushes', 'appid = $1', [mp.appid])).toBe(0);
    await expectSuccess(push);
  });

  it('a callback path whose appid is not 1–64 of [A-Za-z0-9_-] → 404', async () => {
    const mp = await held();
    const push = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'x'));
    for (const appid of ['x.y', 'a'.repeat(65), '%E2%98%83', 'a%20b']) {
      const path = push.path.replace(`/wechat/callback/${mp.appid}?`, `/wechat/callback/${appid}?`);
      const res = await post({ ...push, path });
      expect([appid, res.status]).toEqual([appid, 404]);
    }
    expect(await countRows(h, 'pushes', "appid !~ '^[A-Za-z0-9_-]{1,64}$'", [])).toBe(0);
  });

  it('bad, missing or foreign signatures, a wrong tail appid, an undecryptable body → 401', async () => {
    const mp = await held();
    const good = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'x'));
    const withQuery = (q: Record<string, string>) => ({ ...good, path: callbackPath(mp.appid, q) });
    await expectRefused(mp.appid, post(withQuery({ ...good.query, msg_signature: '0'.repeat(40) })), 401);
    const { msg_signature: _, ...unsigned } = good.query;
    await expectRefused(mp.appid, post(withQuery(unsigned)), 401);
    // signature (sig3) alone does not cover the body
    await expectRefused(
      mp.appid,
      post(withQuery({ ...good.query, msg_signature: good.query.signature as string })),
      401,
    );

    const plaintext = payloadText({ ToUserName: mp.userName, ...textFields(freshOpenid(), 'x') });
    const encrypt = h.deps.crypto.encrypt(plaintext, undefined, 'wxsomeotherapp01');
    const ts = '1715943329';
    const foreignTail: BuiltPush = {
      body: `<xml><ToUserName><![CDATA[${mp.userName}]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`,
      path: callbackPath(mp.appid, {
        timestamp: ts,
        nonce: '1',
        msg_signature: h.deps.crypto.msgSignature(ts, '1', encrypt),
      }),
      query: {},
    };
    await expectRefused(mp.appid, post(foreignTail), 401);

    const garbage = 'A'.repeat(64);
    const undecryptable: BuiltPush = {
      body: `<xml><ToUserName><![CDATA[${mp.userName}]]></ToUserName><Encrypt><![CDATA[${garbage}]]></Encrypt></xml>`,
      path: callbackPath(mp.appid, {
        timestamp: ts,
        nonce: '1',
        msg_signature: h.deps.crypto.msgSignature(ts, '1', garbage),
      }),
      query: {},
    };
    await expectRefused(mp.appid, post(undecryptable), 401);
    await expectRefused(mp.appid, post({ ...good, body: '<xml><ToUserName>gh_x</ToUserName></xml>' }), 401);
  });

  it('malformed XML/JSON, DOCTYPE, entities, deep nesting → 400; over 1 MiB → 413; the next push still succeeds', async () => {
    const mp = await held();
    const good = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'after'));
    const bodies = [
      '<xml><Encrypt>abc</Encrypt>',
      '<xml><Encrypt>a</Encrypt></xml><extra/>',
      '{"ToUserName":"gh_x","Encrypt":',
      'Encrypt=abc',
      '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>',
      '<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>',
      `<xml>${'<a>'.repeat(500)}x${'</a>'.repeat(500)}<Encrypt>x</Encrypt></xml>`,
      `<xml>${'<a/>'.repeat(200_000)}<Encrypt>x</Encrypt></xml>`,
      `<xml><a ${'b="c" '.repeat(100)}/><Encrypt>x</Encrypt></xml>`,
      `{"Encrypt":"x","a":[${'{},'.repeat(1000)}{}]}`,
    ];
    for (const body of bodies) await expectRefused(mp.appid, post({ ...good, body }), 400);

    const big = `<xml><ToUserName>gh_x</ToUserName><Encrypt>${'A'.repeat(1024 * 1024)}</Encrypt></xml>`;
    const tooLarge = await post({ ...good, body: big });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('content-type')).toMatch(/^text\/plain/);
    // without a Content-Length the streamed size decides
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(65));
        controller.close();
      },
    });
    const streamed = await h.app.request(good.path, {
      method: 'POST',
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await countRows(h, 'pushes', 'appid = $1', [mp.appid])).toBe(0);

    await expectSuccess(good);
  });

  it('a payload that is no push (no FromUserName, CreateTime out of range, NUL) → 400', async () => {
    const mp = await held();
    const ts = '1715943329';
    const sealed = (plaintext: string): BuiltPush =>
      encryptedPush(h.deps.crypto, mp.appid, plaintext, mp.userName, { timestamp: ts, nonce: '7' });
    await expectRefused(
      mp.appid,
      post(sealed(`<xml><ToUserName>${mp.userName}</ToUserName><MsgType>text</MsgType></xml>`)),
      400,
    );
    const far = payloadText({
      ToUserName: mp.userName,
      ...textFields(freshOpenid(), 'x'),
      CreateTime: '99999999999',
    });
    await expectRefused(mp.appid, post(sealed(far)), 400);
    const nul = payloadText({ ToUserName: mp.userName, ...textFields(freshOpenid(), 'x') }, 'json').replace(
      '"x"',
      '"\\u0000"',
    );
    await expectRefused(
      mp.appid,
      post(encryptedPush(h.deps.crypto, mp.appid, nul, mp.userName, { format: 'json' })),
      400,
    );
    await expectRefused(mp.appid, post(sealed('not xml at all')), 400);
  });

  it('logs timestamp, nonce and appid of a push, never its body', async () => {
    const mp = await held();
    const push = pushOf(h.deps.crypto, mp, textFields(freshOpenid(), 'secret words'), {
      nonce: '424242',
      timestamp: '1715949999',
    });
    await expectSuccess(push);
    const line = h.logs.lines
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'push received' && l.nonce === '424242');
    expect(line).toMatchObject({ appid: mp.appid, timestamp: '1715949999', result: 'stored' });
    expect(h.logs.text).not.toContain('secret words');
    expect(h.logs.text).not.toContain(push.body.slice(60, 100));
  });

  it('counts pushes by result', async () => {
    const metrics = await h.deps.metrics.registry.getSingleMetricAsString('kefu_pushes_received_total');
    expect(metrics).toMatch(/endpoint="callback",result="stored"\} [1-9]/);
    expect(metrics).toMatch(/endpoint="callback",result="duplicate"\} [1-9]/);
    expect(metrics).toMatch(/endpoint="callback",result="rejected_signature"\} [1-9]/);
    expect(metrics).toMatch(/endpoint="callback",result="bad_request"\} [1-9]/);
  });
});

describe('全网发布 test accounts', () => {
  it('TESTCOMPONENT_MSG_TYPE_TEXT gets the encrypted passive reply; the push is stored, never delivered', async () => {
    const account = { appid: 'wxd101a85aa106f53e', userName: 'gh_8dad206e9538' };
    const push = pushOf(
      h.deps.crypto,
      account,
      textFields('o-release-tester', 'TESTCOMPONENT_MSG_TYPE_TEXT'),
      { nonce: '99' },
    );
    const res = await post(push);
    expect(res.status).toBe(200);
    const reply = await res.text();
    const encrypt = /<Encrypt><!\[CDATA\[(.+?)\]\]><\/Encrypt>/.exec(reply)?.[1] as string;
    expect(h.deps.crypto.decrypt(encrypt).message).toContain('TESTCOMPONENT_MSG_TYPE_TEXT_callback');
    expect(reply).toContain('<Nonce><![CDATA[99]]></Nonce>');
    expect(
      await countRows(h, 'pushes', 'appid = $1 AND tenant_id IS NULL AND event_id IS NULL', [account.appid]),
    ).toBe(1);
  });
});

describe('全网发布 during an EncodingAESKey change', () => {
  it('a push only the previous key decrypts gets its passive reply encrypted with that key', async () => {
    const oldKey = 'ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut';
    const changed = await createHarness({
      env: { WECHAT_COMPONENT_AES_KEY_PREVIOUS: oldKey },
    });
    try {
      const before = new WeChatCrypto({
        token: COMPONENT.token,
        encodingAesKey: oldKey,
        appid: COMPONENT.appid,
      });
      const account = { appid: 'wx9252c5e0bb1836fc', userName: 'gh_c0f28a78b318' };
      const push = pushOf(before, account, textFields('o-release-tester', 'TESTCOMPONENT_MSG_TYPE_TEXT'));
      const res = await changed.request(push.path, { method: 'POST', body: push.body });
      expect(res.status).toBe(200);
      const reply = await res.text();
      const encrypt = /<Encrypt><!\[CDATA\[(.+?)\]\]><\/Encrypt>/.exec(reply)?.[1] as string;
      expect(before.decrypt(encrypt).message).toContain('TESTCOMPONENT_MSG_TYPE_TEXT_callback');
      // a push under the current key is answered under the current key
      const current = pushOf(
        changed.deps.crypto,
        account,
        textFields('o-release-tester', 'TESTCOMPONENT_MSG_TYPE_TEXT'),
      );
      const now = await (await changed.request(current.path, { method: 'POST', body: current.body })).text();
      const encryptNow = /<Encrypt><!\[CDATA\[(.+?)\]\]><\/Encrypt>/.exec(now)?.[1] as string;
      expect(changed.deps.crypto.decrypt(encryptNow).keyUsed).toBe('current');
    } finally {
      await changed.close();
    }
  });
});

describe('GET /wechat/callback/:appid URL verification', () => {
  it('answers echostr for a good signature, 401 otherwise', async () => {
    const ts = '1714036504';
    const nonce = '1514711492';
    const signature = h.deps.crypto.signature(ts, nonce);
    const ok = await h.request(
      `/wechat/callback/wx1?signature=${signature}&timestamp=${ts}&nonce=${nonce}&echostr=4375120948345356249`,
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('4375120948345356249');
    const bad = await h.request(
      `/wechat/callback/wx1?signature=${'0'.repeat(40)}&timestamp=${ts}&nonce=${nonce}&echostr=1`,
    );
    expect(bad.status).toBe(401);
    expect((await h.request('/wechat/callback/wx1?echostr=1')).status).toBe(401);
  });
});

describe('shutting down', () => {
  it('a push arriving once ingest has closed is 503 (WeChat re-sends it), not 500, and nothing is stored', async () => {
    const closing = await createHarness();
    try {
      const mp = await seedHeldMiniProgram(closing);
      await closeIngest(closing.deps);
      const push = pushOf(closing.deps.crypto, mp, textFields(freshOpenid(), 'late'));
      const res = await closing.request(push.path, { method: 'POST', body: push.body });
      expect([res.status, await res.text()]).toEqual([503, 'shutting_down']);
      expect(await countRows(closing, 'pushes', 'appid = $1', [mp.appid])).toBe(0);
    } finally {
      await closing.close();
    }
  });
});
