import { randomBytes } from 'node:crypto';
import type { WeChatCrypto } from '../../src/wechat/crypto.js';
import { buildEncryptedPush } from '../../src/wechat/envelope.js';
import { buildXml } from '../../src/wechat/xml.js';

// Encrypted customer-service pushes as WeChat sends them to /wechat/callback/:appid, for tests and the
// benchmark. Fields are given as WeChat writes them; CreateTime and MsgId are written bare (numbers)
// (MsgId, CreateTime), so a 17-digit MsgId reaches the service with every digit.

export type PushFormat = 'xml' | 'json';

export interface PushOptions {
  /** outer envelope ToUserName; default: the payload's */
  envelopeToUserName?: string;
  format?: PushFormat;
  timestamp?: string;
  nonce?: string;
  random?: Buffer;
}

export interface BuiltPush {
  /** path and query, e.g. /wechat/callback/wx…?signature=…&msg_signature=… */
  path: string;
  body: string;
  /** the query parameters, to tamper with in tests */
  query: Record<string, string>;
}

const NUMERIC = new Set(['CreateTime', 'MsgId']);

/** The decrypted payload: WeChat-style XML, or a JSON object with CreateTime and MsgId as bare numbers. */
export function payloadText(fields: Record<string, string>, format: PushFormat = 'xml'): string {
  const bare = (k: string, v: string) => NUMERIC.has(k) && /^\d+$/.test(v);
  if (format === 'xml') {
    // WeChat writes numbers bare and strings as CDATA; buildXml would round a 17-digit number.
    const body = Object.entries(fields)
      .map(([k, v]) => (bare(k, v) ? `<${k}>${v}</${k}>` : buildXml({ [k]: v }, 'x').slice(3, -4)))
      .join('');
    return `<xml>${body}</xml>`;
  }
  const parts = Object.entries(fields).map(
    ([k, v]) => `${JSON.stringify(k)}:${bare(k, v) ? v : JSON.stringify(v)}`,
  );
  return `{${parts.join(',')}}`;
}

/** Encrypts `plaintext` for `appid`'s callback URL with the platform's crypto (tail = component appid). */
export function encryptedPush(
  crypto: WeChatCrypto,
  appid: string,
  plaintext: string,
  toUserName: string,
  opts: PushOptions = {},
): BuiltPush {
  const timestamp = opts.timestamp ?? String(Math.floor(Date.now() / 1000));
  const nonce = opts.nonce ?? String(randomBytes(4).readUInt32BE(0));
  const outer = opts.envelopeToUserName ?? toUserName;
  let body: string;
  let msgSignature: string;
  if ((opts.format ?? 'xml') === 'xml') {
    const built = buildEncryptedPush(crypto, plaintext, {
      outer: { ToUserName: outer },
      timestamp,
      nonce,
      random: opts.random,
    });
    body = built.body;
    msgSignature = built.msgSignature;
  } else {
    const encrypt = crypto.encrypt(plaintext, opts.random);
    body = JSON.stringify({ ToUserName: outer, Encrypt: encrypt });
    msgSignature = crypto.msgSignature(timestamp, nonce, encrypt);
  }
  const query = {
    signature: crypto.signature(timestamp, nonce),
    timestamp,
    nonce,
    openid: 'o',
    encrypt_type: 'aes',
    msg_signature: msgSignature,
  };
  return { path: callbackPath(appid, query), body, query };
}

export function callbackPath(appid: string, query: Record<string, string>): string {
  return `/wechat/callback/${appid}?${new URLSearchParams(query).toString()}`;
}

export interface PushFor {
  appid: string;
  userName: string;
}

/** A push of `fields` (ToUserName = the mini-program's user name) for `to`. */
export function pushOf(
  crypto: WeChatCrypto,
  to: PushFor,
  fields: Record<string, string>,
  opts: PushOptions = {},
): BuiltPush {
  const all = { ToUserName: to.userName, ...fields };
  const built = encryptedPush(crypto, to.appid, payloadText(all, opts.format), all.ToUserName, opts);
  if (fields.FromUserName) built.query.openid = fields.FromUserName;
  return { ...built, path: callbackPath(to.appid, built.query) };
}

let sequence = 0;

/** A distinct text message: a fresh 17-digit MsgId above 2^53 each call unless given. */
export function textFields(
  openid: string,
  content: string,
  extra: { msgId?: string; createTime?: number } = {},
): Record<string, string> {
  sequence += 1;
  const msgId =
    extra.msgId ?? String(25_000_000_000_000_000n + BigInt(Date.now()) * 1000n + BigInt(sequence % 1000));
  return {
    FromUserName: openid,
    CreateTime: String(extra.createTime ?? Math.floor(Date.now() / 1000)),
    MsgType: 'text',
    Content: content,
    MsgId: msgId,
  };
}
