import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WeChatCrypto } from '../../src/wechat/crypto.js';
import { buildEncryptedReply, parseEnvelope, parseInnerPayload } from '../../src/wechat/envelope.js';
import { buildXml } from '../../src/wechat/xml.js';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { componentToken, Receiver, wx } from './support.js';

let t: TestSimulator;
let relay: Receiver;
let crypto: WeChatCrypto;
const background: Promise<unknown>[] = [];

const TEST_APPID = 'wxd101a85aa106f53e';
const TEST_USER_NAME = 'gh_8dad206e9538';

function passiveText(fields: Record<string, string>, content: string, nonce: string): string {
  const plaintext = buildXml({
    ToUserName: fields.FromUserName ?? '',
    FromUserName: fields.ToUserName ?? '',
    CreateTime: Math.floor(Date.now() / 1000),
    MsgType: 'text',
    Content: content,
  });
  return buildEncryptedReply(crypto, plaintext, {
    nonce,
    timestamp: String(Math.floor(Date.now() / 1000)),
    format: 'xml',
  });
}

/** What kefu-relay must do for 全网发布 (wechat-protocol.md §8), in a few lines. */
async function answerQueryAuthCode(code: string, openid: string): Promise<void> {
  const ct = await componentToken(t);
  const auth = await wx(
    t,
    '/cgi-bin/component/api_query_auth',
    { component_appid: t.credentials.componentAppid, authorization_code: code },
    { component_access_token: ct },
  );
  const token = String((auth.body.authorization_info as Record<string, unknown>).authorizer_access_token);
  await wx(
    t,
    '/cgi-bin/message/custom/send',
    { touser: openid, msgtype: 'text', text: { content: `${code}_from_api` } },
    { access_token: token },
  );
}

function releaseAwareRelay(body: string, url: URL): string {
  if (url.pathname === '/wechat/component') return 'success';
  const envelope = parseEnvelope(body);
  const fields = parseInnerPayload(crypto.decrypt(envelope.encrypt).message, 'xml');
  const nonce = url.searchParams.get('nonce') ?? '';
  if (fields.MsgType === 'event') return passiveText(fields, `${fields.Event}from_callback`, nonce);
  if (fields.Content === 'TESTCOMPONENT_MSG_TYPE_TEXT') {
    return passiveText(fields, 'TESTCOMPONENT_MSG_TYPE_TEXT_callback', nonce);
  }
  const query = /^QUERY_AUTH_CODE:(.+)$/.exec(fields.Content ?? '');
  if (query?.[1]) background.push(answerQueryAuthCode(query[1], fields.FromUserName ?? ''));
  return '';
}

beforeAll(async () => {
  relay = await new Receiver().start();
  t = await startTestSimulator({ relayBaseUrl: relay.url, pushTimeoutMs: 1000 });
  crypto = new WeChatCrypto({
    token: t.credentials.componentToken,
    encodingAesKey: t.credentials.componentAesKey,
    appid: t.credentials.componentAppid,
  });
});
afterAll(async () => {
  await Promise.allSettled(background);
  await t.close();
  await relay.stop();
});
beforeEach(async () => {
  await t.control.reset();
  relay.received.length = 0;
  relay.queue = [];
});

describe('全网发布 release check', () => {
  it('seeds the ten test accounts as mini-programs', async () => {
    const tests = (await t.control.miniPrograms()).filter((mp) => mp.releaseTest);
    expect(tests).toHaveLength(10);
    expect(tests.find((mp) => mp.appid === TEST_APPID)?.userName).toBe(TEST_USER_NAME);
  });

  it('passes against a relay that implements the three behaviours', async () => {
    relay.fallback = releaseAwareRelay;
    const result = await t.control.releaseCheck({ appid: TEST_APPID, timeoutMs: 5000 });
    expect(result.steps.map((s) => [s.name, s.ok, s.detail])).toEqual([
      ['text', true, 'encrypted reply TESTCOMPONENT_MSG_TYPE_TEXT_callback'],
      ['event', true, 'encrypted reply LOCATIONfrom_callback'],
      ['query_auth_code', true, expect.stringMatching(/^custom\/send queryauthcode@@@.+_from_api arrived$/)],
    ]);
    expect(result.ok).toBe(true);
    const pushes = await t.control.pushes({ appid: TEST_APPID, type: 'text' });
    expect(pushes[0]?.reply?.plaintext).toContain(
      '<Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT_callback]]></Content>',
    );
    expect(pushes[0]?.reply?.verified).toBe(true);
    // The QUERY_AUTH_CODE code was also announced as an `authorized` event.
    expect((await t.control.pushes({ type: 'authorized' })).map((p) => p.appid)).toEqual([TEST_APPID]);
  });

  it('fails, step by step, against a relay that only says success', async () => {
    relay.fallback = 'success';
    const result = await t.control.releaseCheck({ appid: TEST_APPID, timeoutMs: 200 });
    expect(result.ok).toBe(false);
    expect(result.steps.map((s) => s.ok)).toEqual([false, false, false]);
    expect(result.steps[0]?.detail).toBe('no encrypted passive reply');
    expect(result.steps[2]?.detail).toMatch(/within the timeout$/);
  });

  it('treats an encrypted "success" as a failed answer', async () => {
    relay.queue = [
      (_body, url) =>
        buildEncryptedReply(crypto, 'success', {
          nonce: url.searchParams.get('nonce') ?? '',
          timestamp: '1',
          format: 'xml',
        }),
    ];
    const { push } = await t.control.sendText(TEST_APPID, 'oTest', 'hi', { wait: true });
    expect(push.attempts[0]?.error).toBe('encrypted reply is not a message');
    expect(push.attempts[1]?.ok).toBe(true);
  });
});
