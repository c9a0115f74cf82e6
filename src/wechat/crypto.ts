import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// WXBizMsgCrypt as described in wechat-protocol.md §1. Keys and the token live in #private fields so that
// logging or inspecting a WeChatCrypto instance can never print them.

export type WeChatCryptoErrorReason =
  | 'bad_key'
  | 'bad_base64'
  | 'bad_block_length'
  | 'bad_padding'
  | 'bad_length_field'
  | 'appid_mismatch'
  | 'bad_utf8';

export class WeChatCryptoError extends Error {
  override readonly name = 'WeChatCryptoError';
  constructor(
    readonly reason: WeChatCryptoErrorReason,
    message: string = `wechat crypto: ${reason}`,
  ) {
    super(message);
  }
}

const ENCODING_AES_KEY = /^[A-Za-z0-9]{43}$/;
// Node's base64 decoder skips characters it does not know, so the alphabet is checked before decoding.
const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BLOCK = 32;
const HEADER = 20; // 16 random bytes + uint32 message length
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeEncodingAesKey(encodingAesKey: string): Buffer {
  if (typeof encodingAesKey !== 'string' || !ENCODING_AES_KEY.test(encodingAesKey)) {
    throw new WeChatCryptoError('bad_key', 'EncodingAESKey must be 43 characters of [A-Za-z0-9]');
  }
  const key = Buffer.from(encodingAesKey + '=', 'base64');
  if (key.length !== 32) throw new WeChatCryptoError('bad_key', 'EncodingAESKey must decode to 32 bytes');
  return key;
}

// Byte-wise order of UTF-8 equals code point order; UTF-16 code unit order differs from it only where
// surrogates meet U+E000..U+FFFF, so those units are shifted instead of encoding every part to bytes.
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

function compareByteWise(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

export function sha1Signature(parts: string[]): string {
  const hash = createHash('sha1');
  // Hashing part by part avoids concatenating a body-sized Encrypt value.
  for (const part of [...parts].sort(compareByteWise)) hash.update(part, 'utf8');
  return hash.digest('hex');
}

export function safeEqualHex(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface WeChatCryptoOptions {
  token: string;
  encodingAesKey: string;
  appid: string;
  previousEncodingAesKey?: string;
}

/** Which EncodingAESKey: the configured one, or the previous one during a key change. */
export type KeyUsed = 'current' | 'previous';

export interface DecryptResult {
  message: string;
  appid: string;
  random: Buffer;
  keyUsed: KeyUsed;
}

interface KeyMaterial {
  key: Buffer;
  iv: Buffer;
}

function keyMaterial(encodingAesKey: string): KeyMaterial {
  const key = decodeEncodingAesKey(encodingAesKey);
  return { key, iv: key.subarray(0, 16) };
}

function decodeCiphertext(encrypt: string): Buffer {
  if (typeof encrypt !== 'string' || encrypt.length % 4 !== 0 || !STANDARD_BASE64.test(encrypt)) {
    throw new WeChatCryptoError('bad_base64');
  }
  const bytes = Buffer.from(encrypt, 'base64');
  if (bytes.length === 0 || bytes.length % BLOCK !== 0) throw new WeChatCryptoError('bad_block_length');
  return bytes;
}

function open(km: KeyMaterial, ciphertext: Buffer, expectedAppid: string | null) {
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-cbc', km.key, km.iv);
    decipher.setAutoPadding(false);
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new WeChatCryptoError('bad_block_length', 'wechat crypto: cipher rejected the input');
  }
  const pad = plain[plain.length - 1] ?? 0;
  if (pad < 1 || pad > BLOCK) throw new WeChatCryptoError('bad_padding');
  for (let i = plain.length - pad; i < plain.length; i++) {
    if (plain[i] !== pad) throw new WeChatCryptoError('bad_padding');
  }
  const content = plain.subarray(0, plain.length - pad);
  if (content.length < HEADER) throw new WeChatCryptoError('bad_length_field');
  const msgLen = content.readUInt32BE(16);
  if (HEADER + msgLen > content.length) throw new WeChatCryptoError('bad_length_field');
  let message: string;
  let appid: string;
  try {
    message = utf8.decode(content.subarray(HEADER, HEADER + msgLen));
    appid = utf8.decode(content.subarray(HEADER + msgLen));
  } catch {
    throw new WeChatCryptoError('bad_utf8');
  }
  if (expectedAppid !== null && appid !== expectedAppid) throw new WeChatCryptoError('appid_mismatch');
  return { message, appid, random: Buffer.from(content.subarray(0, 16)) };
}

export class WeChatCrypto {
  readonly appid: string;
  readonly #token: string;
  readonly #current: KeyMaterial;
  readonly #previous: KeyMaterial | null;

  constructor(opts: WeChatCryptoOptions) {
    this.appid = opts.appid;
    this.#token = opts.token;
    this.#current = keyMaterial(opts.encodingAesKey);
    this.#previous = opts.previousEncodingAesKey ? keyMaterial(opts.previousEncodingAesKey) : null;
  }

  signature(timestamp: string, nonce: string): string {
    return sha1Signature([this.#token, timestamp, nonce]);
  }

  msgSignature(timestamp: string, nonce: string, encrypt: string): string {
    return sha1Signature([this.#token, timestamp, nonce, encrypt]);
  }

  verifySignature(signature: string, timestamp: string, nonce: string): boolean {
    return safeEqualHex(signature, this.signature(timestamp, nonce));
  }

  verifyMsgSignature(msgSignature: string, timestamp: string, nonce: string, encrypt: string): boolean {
    return safeEqualHex(msgSignature, this.msgSignature(timestamp, nonce, encrypt));
  }

  /**
   * `key: 'previous'` encrypts with the previous EncodingAESKey (a reply to a push only it decrypted,
   * wechat-protocol.md §1.1); without one configured, the current key.
   */
  encrypt(
    plaintext: string,
    random: Buffer = randomBytes(16),
    appid: string = this.appid,
    key: KeyUsed = 'current',
  ): string {
    if (random.length !== 16) throw new RangeError('random must be 16 bytes');
    const msg = Buffer.from(plaintext, 'utf8');
    const tail = Buffer.from(appid, 'utf8');
    const unpadded = HEADER + msg.length + tail.length;
    const pad = BLOCK - (unpadded % BLOCK);
    const full = Buffer.alloc(unpadded + pad, pad);
    random.copy(full, 0);
    full.writeUInt32BE(msg.length, 16);
    msg.copy(full, HEADER);
    tail.copy(full, HEADER + msg.length);
    const material = key === 'previous' && this.#previous ? this.#previous : this.#current;
    const cipher = createCipheriv('aes-256-cbc', material.key, material.iv);
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(full), cipher.final()]).toString('base64');
  }

  decrypt(encrypt: string, opts: { expectedAppid?: string | null } = {}): DecryptResult {
    const expected = opts.expectedAppid === undefined ? this.appid : opts.expectedAppid;
    const ciphertext = decodeCiphertext(encrypt);
    try {
      return { ...open(this.#current, ciphertext, expected), keyUsed: 'current' };
    } catch (err) {
      if (this.#previous === null) throw err;
      try {
        return { ...open(this.#previous, ciphertext, expected), keyUsed: 'previous' };
      } catch {
        // The current key's reason is the meaningful one once the rotation is over.
        throw err;
      }
    }
  }
}
