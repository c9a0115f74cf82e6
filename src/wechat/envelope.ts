import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import type { KeyUsed, WeChatCrypto } from './crypto.js';
import { buildXml, DEFAULT_MAX_BYTES, exceedsUtf8Bytes, parseXmlDocument, XmlError } from './xml.js';

// The outer layer of pushes and passive replies (wechat-protocol.md §1.4) and the decrypted inner payload.

export type EnvelopeFormat = 'xml' | 'json';

export interface Envelope {
  format: EnvelopeFormat;
  /** The base64 text exactly as found in the body: msg_signature covers these characters. */
  encrypt: string;
  toUserName?: string;
  appId?: string;
}

export type EnvelopeErrorReason = 'malformed' | 'missing_encrypt' | 'too_large' | 'doctype' | 'too_deep';

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  constructor(
    readonly reason: EnvelopeErrorReason,
    message: string = `envelope: ${reason}`,
  ) {
    super(message);
  }
}

function fromXmlError(err: unknown): never {
  if (err instanceof XmlError) {
    throw new EnvelopeError(err.reason === 'not_xml' ? 'malformed' : err.reason, err.message);
  }
  throw err;
}

/**
 * A payload is parsed only once its signature verified, so it is WeChat's own: its node budget only guards
 * against pathology. A user's text full of "]]>" travels as one CDATA section per occurrence.
 */
const PAYLOAD_MAX_NODES = 100_000;

function parseXml(text: string, maxNodes?: number) {
  try {
    return parseXmlDocument(text, maxNodes === undefined ? {} : { maxNodes });
  } catch (err) {
    return fromXmlError(err);
  }
}

function parseJsonObject(text: string, parse: (t: string) => unknown): Record<string, unknown> {
  let value: unknown;
  try {
    value = parse(text);
  } catch {
    throw new EnvelopeError('malformed', 'envelope: invalid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EnvelopeError('malformed', 'envelope: a JSON object expected');
  }
  return value as Record<string, unknown>;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * WeChat's JSON envelope is one object of two or three strings. Objects and keys cost JSON.parse far more than
 * their bytes (1 MiB of `{}` or of short keys took 30–40 ms of the event loop), so an envelope with more strings,
 * objects or arrays than any of WeChat's is refused before it is parsed: a native regex scan counts their quote
 * marks, braces and brackets (WeChat's have about a dozen; the base64 of Encrypt has none).
 */
const JSON_STRUCTURE = /["{[]/g;
const MAX_JSON_STRUCTURES = 256;

function tooMuchJsonStructure(text: string): boolean {
  JSON_STRUCTURE.lastIndex = 0;
  let n = 0;
  while (JSON_STRUCTURE.exec(text) !== null) if (++n > MAX_JSON_STRUCTURES) return true;
  return false;
}

/** Sniffs XML or JSON by the first non-blank character; WeChat documents no Content-Type. */
export function parseEnvelope(body: string): Envelope {
  if (typeof body !== 'string') throw new EnvelopeError('malformed');
  if (exceedsUtf8Bytes(body, DEFAULT_MAX_BYTES)) throw new EnvelopeError('too_large');
  const text = body.trimStart();
  let format: EnvelopeFormat;
  let fields: Record<string, unknown>;
  if (text.startsWith('<')) {
    format = 'xml';
    fields = parseXml(text);
  } else if (text.startsWith('{')) {
    format = 'json';
    if (tooMuchJsonStructure(text))
      throw new EnvelopeError(
        'malformed',
        'envelope: more strings, objects or arrays than a WeChat envelope has',
      );
    fields = parseJsonObject(text, JSON.parse);
  } else {
    throw new EnvelopeError('malformed', 'envelope: neither XML nor JSON');
  }
  const encrypt = fields.Encrypt;
  if (Array.isArray(encrypt)) throw new EnvelopeError('malformed', 'envelope: more than one Encrypt');
  if (typeof encrypt !== 'string' || encrypt === '') throw new EnvelopeError('missing_encrypt');
  const envelope: Envelope = { format, encrypt };
  const toUserName = optionalString(fields.ToUserName);
  const appId = optionalString(fields.AppId);
  if (toUserName !== undefined) envelope.toUserName = toUserName;
  if (appId !== undefined) envelope.appId = appId;
  return envelope;
}

/**
 * The decrypted push as one flat record of strings (http-api.md §6 `raw`).
 * - XML: leaf elements give their text; an element with children gives the JSON text of its parsed record
 *   (element names as keys, text as strings, repeated elements as arrays); a repeated top-level element gives
 *   the JSON text of the array of its values.
 * - JSON: strings stay as they are; any other value gives its JSON text, with numbers exactly as written
 *   (a 17-digit MsgId keeps every digit), so `true` becomes "true" and `null` becomes "null".
 */
export function parseInnerPayload(plaintext: string, format: EnvelopeFormat): Record<string, string> {
  if (typeof plaintext !== 'string') throw new EnvelopeError('malformed');
  const entries: [string, string][] = [];
  if (format === 'xml') {
    for (const [key, value] of Object.entries(parseXml(plaintext, PAYLOAD_MAX_NODES))) {
      entries.push([key, typeof value === 'string' ? value : JSON.stringify(value)]);
    }
  } else {
    if (exceedsUtf8Bytes(plaintext, DEFAULT_MAX_BYTES)) throw new EnvelopeError('too_large');
    for (const [key, value] of Object.entries(parseJsonObject(plaintext, parseLossless))) {
      entries.push([key, typeof value === 'string' ? value : (stringifyLossless(value) ?? '')]);
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays data instead of touching the prototype.
  return Object.fromEntries(entries);
}

const CANONICAL_TIMESTAMP = /^(0|[1-9][0-9]{0,15})$/;

// The signature covers the timestamp text, so it must survive being written as a bare number unchanged.
function timestampNumber(timestamp: string): number {
  const value = Number(timestamp);
  if (!CANONICAL_TIMESTAMP.test(timestamp) || !Number.isSafeInteger(value)) {
    throw new TypeError('timestamp must be a decimal integer without leading zeros');
  }
  return value;
}

export interface EncryptedReplyOptions {
  nonce: string;
  timestamp: string;
  format: EnvelopeFormat;
  random?: Buffer;
  /** the key that decrypted the push answered (default: the current one) */
  key?: KeyUsed;
}

/** An encrypted passive reply; its tail appid is the crypto's appid (the component appid, §11.6). */
export function buildEncryptedReply(
  crypto: WeChatCrypto,
  plaintext: string,
  opts: EncryptedReplyOptions,
): string {
  const timeStamp = timestampNumber(opts.timestamp);
  const encrypt = crypto.encrypt(plaintext, opts.random, undefined, opts.key);
  const signature = crypto.msgSignature(opts.timestamp, opts.nonce, encrypt);
  const reply = { Encrypt: encrypt, MsgSignature: signature, TimeStamp: timeStamp, Nonce: opts.nonce };
  return opts.format === 'json' ? JSON.stringify(reply) : buildXml(reply);
}

export interface EncryptedPushOptions {
  outer: { ToUserName?: string; AppId?: string };
  timestamp: string;
  nonce: string;
  random?: Buffer;
}

export interface EncryptedPush {
  body: string;
  msgSignature: string;
  signature: string;
}

/** What WeChat POSTs to a push URL: the XML envelope plus the two query signatures. */
export function buildEncryptedPush(
  crypto: WeChatCrypto,
  plaintext: string,
  opts: EncryptedPushOptions,
): EncryptedPush {
  const encrypt = crypto.encrypt(plaintext, opts.random);
  const fields: Record<string, string> = {};
  if (opts.outer.ToUserName !== undefined) fields.ToUserName = opts.outer.ToUserName;
  if (opts.outer.AppId !== undefined) fields.AppId = opts.outer.AppId;
  fields.Encrypt = encrypt;
  return {
    body: buildXml(fields),
    msgSignature: crypto.msgSignature(opts.timestamp, opts.nonce, encrypt),
    signature: crypto.signature(opts.timestamp, opts.nonce),
  };
}
