import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeChatCrypto } from '../../src/wechat/crypto.js';
import { parseEnvelope } from '../../src/wechat/envelope.js';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator.js';
import { message, vector } from '../unit/wechat/vectors.js';
import { Receiver } from './support.js';

const E = vector('E');
const A = vector('A');

const OPENID = 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY';
const USER_NAME = 'gh_97417a04a28d';

describe('crypto interop with the shared test vectors', () => {
  let relay: Receiver;
  let t: TestSimulator;

  beforeAll(async () => {
    relay = await new Receiver().start();
    t = await startTestSimulator({
      componentAppid: E.componentAppId as string,
      componentAppsecret: 'vector-secret',
      componentToken: E.token,
      componentAesKey: E.encodingAESKey,
      relayBaseUrl: relay.url,
      clock: () => 1_715_943_329_000,
      miniPrograms: [{ appid: E.authorizerAppId as string, userName: USER_NAME, users: [OPENID] }],
    });
  });
  afterAll(async () => {
    await t.close();
    await relay.stop();
  });

  it("reproduces vector G's inner plaintext byte for byte and encrypts it so WeChatCrypto opens it", async () => {
    const g = message('G', 'push');
    await t.control.sendText(E.authorizerAppId as string, OPENID, '你好', {
      msgId: '25495331247649341',
      createTime: 1_715_943_329,
      wait: true,
    });
    const received = relay.received.at(-1)!;
    expect(received.path).toBe(`/wechat/callback/${E.authorizerAppId}`);
    const crypto = new WeChatCrypto({ token: E.token, encodingAesKey: E.encodingAESKey, appid: g.appId });
    const envelope = parseEnvelope(received.body);
    expect(envelope.toUserName).toBe(USER_NAME);
    const { timestamp, nonce, msg_signature, signature } = received.query;
    expect(timestamp).toBe('1715943329');
    expect(
      crypto.verifyMsgSignature(msg_signature ?? '', timestamp ?? '', nonce ?? '', envelope.encrypt),
    ).toBe(true);
    expect(crypto.verifySignature(signature ?? '', timestamp ?? '', nonce ?? '')).toBe(true);
    const opened = crypto.decrypt(envelope.encrypt);
    expect(opened.appid).toBe(E.componentAppId);
    expect(opened.message).toBe(g.plaintext);
  });

  it('pushes with vector A keys open with WeChatCrypto too', async () => {
    const other = await startTestSimulator({
      componentAppid: A.appId as string,
      componentAppsecret: 's',
      componentToken: A.token,
      componentAesKey: A.encodingAESKey,
      relayBaseUrl: relay.url,
    });
    try {
      await other.control.pushTicket({ wait: true });
      const received = relay.received.at(-1)!;
      const crypto = new WeChatCrypto({
        token: A.token,
        encodingAesKey: A.encodingAESKey,
        appid: A.appId as string,
      });
      const envelope = parseEnvelope(received.body);
      expect(envelope.appId).toBe(A.appId);
      expect(
        crypto.verifyMsgSignature(
          received.query.msg_signature ?? '',
          received.query.timestamp ?? '',
          received.query.nonce ?? '',
          envelope.encrypt,
        ),
      ).toBe(true);
      expect(crypto.decrypt(envelope.encrypt).message).toContain(
        '<InfoType><![CDATA[component_verify_ticket]]>',
      );
    } finally {
      await other.close();
    }
  });
});
