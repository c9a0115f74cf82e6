import { describe, expect, it } from 'vitest';
import { WeChatCrypto } from '../../../src/wechat/crypto.js';
import {
  buildEncryptedPush,
  buildEncryptedReply,
  EnvelopeError,
  parseEnvelope,
  parseInnerPayload,
} from '../../../src/wechat/envelope.js';
import { buildXml } from '../../../src/wechat/xml.js';
import { message, vector } from './vectors.js';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof EnvelopeError) return err.reason;
    throw err;
  }
  throw new Error('expected an EnvelopeError');
}

const e = vector('E');
const componentCrypto = new WeChatCrypto({
  token: e.token,
  encodingAesKey: e.encodingAESKey,
  appid: e.componentAppId!,
});

describe('parseEnvelope', () => {
  it('reads the authorizer push of vector E', () => {
    const push = message('E', 'push');
    expect(parseEnvelope(push.body!)).toEqual({
      format: 'xml',
      encrypt: push.encrypt,
      toUserName: 'gh_97417a04a28d',
    });
  });

  it('finds Encrypt when it is not the first child and ignores unknown elements', () => {
    const body =
      '\n  <xml><Encrypt><![CDATA[abc=]]></Encrypt><Foo>1</Foo><ToUserName><![CDATA[gh_1]]></ToUserName></xml>';
    expect(parseEnvelope(body)).toEqual({ format: 'xml', encrypt: 'abc=', toUserName: 'gh_1' });
    const later =
      '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Extra><A>1</A></Extra><Encrypt>abc=</Encrypt></xml>';
    expect(parseEnvelope(later).encrypt).toBe('abc=');
  });

  it('reads the component form with AppId', () => {
    const body = `<xml><AppId><![CDATA[${e.componentAppId}]]></AppId><Encrypt><![CDATA[xyz=]]></Encrypt></xml>`;
    expect(parseEnvelope(body)).toEqual({ format: 'xml', encrypt: 'xyz=', appId: e.componentAppId });
  });

  it('reads the JSON form of vector D2', () => {
    const push = message('D2', 'push');
    expect(parseEnvelope(push.body!)).toEqual({
      format: 'json',
      encrypt: push.encrypt,
      toUserName: 'gh_97417a04a28d',
    });
  });

  it('refuses a body without a usable Encrypt', () => {
    expect(reasonOf(() => parseEnvelope('<xml><ToUserName>gh</ToUserName></xml>'))).toBe('missing_encrypt');
    expect(reasonOf(() => parseEnvelope('<xml><Encrypt></Encrypt></xml>'))).toBe('missing_encrypt');
    expect(reasonOf(() => parseEnvelope('<xml><Encrypt><A>1</A></Encrypt></xml>'))).toBe('missing_encrypt');
    expect(reasonOf(() => parseEnvelope('{"ToUserName":"gh"}'))).toBe('missing_encrypt');
    expect(reasonOf(() => parseEnvelope('{"Encrypt":42}'))).toBe('missing_encrypt');
  });

  it('refuses malformed, hostile and oversized bodies with their reason', () => {
    expect(reasonOf(() => parseEnvelope('<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>'))).toBe(
      'malformed',
    );
    expect(reasonOf(() => parseEnvelope('<xml><Encrypt>a</Encrypt>'))).toBe('malformed');
    expect(reasonOf(() => parseEnvelope('{"Encrypt":'))).toBe('malformed');
    expect(reasonOf(() => parseEnvelope('["Encrypt"]'))).toBe('malformed');
    expect(reasonOf(() => parseEnvelope('Encrypt=abc'))).toBe('malformed');
    expect(reasonOf(() => parseEnvelope(''))).toBe('malformed');
    expect(
      reasonOf(() => parseEnvelope('<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>')),
    ).toBe('doctype');
    expect(reasonOf(() => parseEnvelope(`<xml>${'<a>'.repeat(20)}${'</a>'.repeat(20)}</xml>`))).toBe(
      'too_deep',
    );
    expect(reasonOf(() => parseEnvelope(`{"Encrypt":"${'a'.repeat(1024 * 1024)}"}`))).toBe('too_large');
    expect(reasonOf(() => parseEnvelope(`<xml><Encrypt>${'a'.repeat(1024 * 1024)}</Encrypt></xml>`))).toBe(
      'too_large',
    );
  });

  it('refuses a JSON envelope with more strings, objects or arrays than WeChat writes, before parsing it', () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `"k${i}":1`).join(',');
    // at most 256 quote marks, braces and brackets: 1 + 4 for {"Encrypt":"x", and 2 for each key
    expect(parseEnvelope(`{"Encrypt":"x",${members(125)}}`).encrypt).toBe('x');
    expect(() => parseEnvelope(`{"Encrypt":"x",${members(126)}}`)).toThrow(/more strings, objects or arrays/);
    expect(reasonOf(() => parseEnvelope(`{"Encrypt":"x","a":[${'{},'.repeat(300_000)}{}]}`))).toBe(
      'malformed',
    );
    // numbers and the Encrypt string itself are cheap to parse and are not counted
    expect(
      parseEnvelope(`{"Encrypt":"${'a'.repeat(100_000)}","n":[${'1,'.repeat(1000)}1]}`).encrypt,
    ).toHaveLength(100_000);
  });

  it('a decrypted payload may hold many CDATA sections (a user text full of "]]>")', () => {
    const text = ']]>'.repeat(2000);
    const xml = buildXml({ ToUserName: 'gh', MsgType: 'text', Content: text });
    expect(parseInnerPayload(xml, 'xml').Content).toBe(text);
  });
});

describe('parseInnerPayload', () => {
  it('XML: vector G gives the expected flat fields, MsgId exact', () => {
    const g = message('G', 'push');
    expect(parseInnerPayload(g.plaintext, 'xml')).toEqual(g.expectedFields);
  });

  it('XML: nested elements become their JSON text, repeated ones a JSON array', () => {
    const video = message('A', 'encrypt-xml-video-reply');
    const fields = parseInnerPayload(video.plaintext, 'xml');
    expect(fields.MsgType).toBe('video');
    expect(JSON.parse(fields.Video!)).toEqual({
      MediaId: 'eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0',
      Title: 'testCallBackReplyVideo',
      Description: 'testCallBackReplyVideo',
    });
    expect(parseInnerPayload('<xml><R>1</R><R>2</R></xml>', 'xml')).toEqual({ R: '["1","2"]' });
  });

  it('JSON: numbers keep their exact digits, also above 2^53', () => {
    const d2 = message('D2', 'push');
    expect(parseInnerPayload(d2.plaintext, 'json')).toEqual({
      ToUserName: 'gh_97417a04a28d',
      FromUserName: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY',
      CreateTime: '1714112445',
      MsgType: 'event',
      Event: 'debug_demo',
      debug_str: 'hello world',
    });
    const text = '{"MsgType":"text","MsgId":25495331247649341,"Big":123456789012345678901234,"F":1.50}';
    expect(parseInnerPayload(text, 'json')).toEqual({
      MsgType: 'text',
      MsgId: '25495331247649341',
      Big: '123456789012345678901234',
      F: '1.50',
    });
  });

  it('JSON: other values become their JSON text, nested numbers exact too', () => {
    const text = '{"A":true,"B":null,"C":{"MsgId":25495331247649341,"s":"x"},"D":[1,"a"],"__proto__":"p"}';
    const fields = parseInnerPayload(text, 'json');
    expect(fields).toEqual({
      A: 'true',
      B: 'null',
      C: '{"MsgId":25495331247649341,"s":"x"}',
      D: '[1,"a"]',
      // A computed key defines an own property, as parseInnerPayload must: data, not a prototype.
      ['__proto__']: 'p',
    });
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
  });

  it('refuses what does not parse as a record', () => {
    expect(reasonOf(() => parseInnerPayload('{"a":', 'json'))).toBe('malformed');
    expect(reasonOf(() => parseInnerPayload('[1,2]', 'json'))).toBe('malformed');
    expect(reasonOf(() => parseInnerPayload('{"a":1,"a":2}', 'json'))).toBe('malformed');
    expect(reasonOf(() => parseInnerPayload('<xml><a>1</b></xml>', 'xml'))).toBe('malformed');
    expect(reasonOf(() => parseInnerPayload('not xml', 'xml'))).toBe('malformed');
    expect(reasonOf(() => parseInnerPayload(`${'['.repeat(100_000)}`, 'json'))).toBe('malformed');
  });
});

describe('buildEncryptedReply', () => {
  it('XML: reproduces vector E reply and signs it', () => {
    const reply = message('E', 'reply');
    const body = buildEncryptedReply(componentCrypto, reply.plaintext, {
      nonce: reply.nonce,
      timestamp: reply.timestamp,
      format: 'xml',
      random: Buffer.from(reply.random, 'latin1'),
    });
    expect(body).toBe(
      `<xml><Encrypt><![CDATA[${reply.encrypt}]]></Encrypt><MsgSignature><![CDATA[${reply.msgSignature}]]></MsgSignature>` +
        `<TimeStamp>${reply.timestamp}</TimeStamp><Nonce><![CDATA[${reply.nonce}]]></Nonce></xml>`,
    );
    expect(componentCrypto.decrypt(parseEnvelope(body).encrypt).message).toBe(reply.plaintext);
  });

  it('JSON: reproduces vector D2 reply with TimeStamp as a number', () => {
    const d2 = vector('D2');
    const reply = message('D2', 'reply');
    const crypto = new WeChatCrypto({ token: d2.token, encodingAesKey: d2.encodingAESKey, appid: d2.appId! });
    const body = buildEncryptedReply(crypto, reply.plaintext, {
      nonce: reply.nonce,
      timestamp: reply.timestamp,
      format: 'json',
      random: Buffer.from(reply.random, 'latin1'),
    });
    expect(body).toBe(
      `{"Encrypt":"${reply.encrypt}","MsgSignature":"${reply.msgSignature}","TimeStamp":${reply.timestamp},"Nonce":"${reply.nonce}"}`,
    );
  });

  it('refuses a timestamp that would not survive as a bare number', () => {
    for (const timestamp of ['0123', '12.5', '', 'abc', '99999999999999999']) {
      expect(() =>
        buildEncryptedReply(componentCrypto, 'x', { nonce: 'n', timestamp, format: 'xml' }),
      ).toThrow(TypeError);
    }
  });
});

describe('buildEncryptedPush', () => {
  for (const id of ['E', 'G']) {
    it(`reproduces the push body and both signatures of vector ${id}`, () => {
      const push = message(id, 'push');
      const built = buildEncryptedPush(componentCrypto, push.plaintext, {
        outer: { ToUserName: push.toUserName! },
        timestamp: push.timestamp,
        nonce: push.nonce,
        random: Buffer.from(push.random, 'latin1'),
      });
      expect(built).toEqual({ body: push.body, msgSignature: push.msgSignature, signature: push.signature });
    });
  }

  it('a component event round-trips: envelope, sig4, decrypt, inner payload', () => {
    const plaintext =
      '<xml><AppId><![CDATA[wx134c8103faa5a59e]]></AppId><CreateTime>1413192605</CreateTime>' +
      '<InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@x]]></ComponentVerifyTicket></xml>';
    const built = buildEncryptedPush(componentCrypto, plaintext, {
      outer: { AppId: e.componentAppId! },
      timestamp: '1413192605',
      nonce: '42',
    });
    const envelope = parseEnvelope(built.body);
    expect(envelope.appId).toBe(e.componentAppId);
    expect(componentCrypto.verifyMsgSignature(built.msgSignature, '1413192605', '42', envelope.encrypt)).toBe(
      true,
    );
    expect(componentCrypto.verifySignature(built.signature, '1413192605', '42')).toBe(true);
    const inner = parseInnerPayload(componentCrypto.decrypt(envelope.encrypt).message, envelope.format);
    expect(inner).toMatchObject({ InfoType: 'component_verify_ticket', ComponentVerifyTicket: 'ticket@@@x' });
  });
});
