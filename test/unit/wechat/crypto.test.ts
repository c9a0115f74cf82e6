import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  decodeEncodingAesKey,
  safeEqualHex,
  sha1Signature,
  WeChatCrypto,
  WeChatCryptoError,
} from '../../../src/wechat/crypto.js';
import { vector, vectors } from './vectors.js';

const ZERO_KEY = 'A'.repeat(43);
const OTHER_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const APPID = 'wx134c8103faa5a59e';

function cryptoFor(id: string, appid: string, extra: { previousEncodingAesKey?: string } = {}) {
  const v = vector(id);
  return new WeChatCrypto({ token: v.token, encodingAesKey: v.encodingAESKey, appid, ...extra });
}

// Encrypts raw FullStr bytes (already padded) so the tests can forge every malformed layout.
function sealRaw(full: Buffer, encodingAesKey = ZERO_KEY): string {
  const key = decodeEncodingAesKey(encodingAesKey);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(full), cipher.final()]).toString('base64');
}

function fullStr(msg: Buffer, appid: string, opts: { lengthField?: number; pad?: number[] } = {}): Buffer {
  const header = Buffer.alloc(20);
  randomBytes(16).copy(header);
  header.writeUInt32BE(opts.lengthField ?? msg.length, 16);
  const body = Buffer.concat([header, msg, Buffer.from(appid)]);
  const n = 32 - (body.length % 32);
  return Buffer.concat([body, Buffer.from(opts.pad ?? new Array(n).fill(n))]);
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof WeChatCryptoError) return err.reason;
    throw err;
  }
  throw new Error('expected a WeChatCryptoError');
}

describe('test vectors', () => {
  for (const [id, v] of Object.entries(vectors)) {
    it(`${id}: key decodes to aesKeyHex`, () => {
      expect(decodeEncodingAesKey(v.encodingAESKey).toString('hex')).toBe(v.aesKeyHex);
    });
    for (const m of v.messages) {
      describe(`${id}/${m.label}`, () => {
        const crypto = cryptoFor(id, m.appId);

        it('decrypts to random, msgLen, plaintext and appId', () => {
          const out = crypto.decrypt(m.encrypt);
          expect(out.message).toBe(m.plaintext);
          expect(out.appid).toBe(m.appId);
          expect(out.random.toString('latin1')).toBe(m.random);
          expect(Buffer.byteLength(out.message, 'utf8')).toBe(m.msgLen);
          expect(out.keyUsed).toBe('current');
        });

        it('re-encrypts byte for byte with the given random', () => {
          const encrypt = crypto.encrypt(m.plaintext, Buffer.from(m.random, 'latin1'), m.appId);
          expect(encrypt).toBe(m.encrypt);
          if (m.cipherBytes) expect(Buffer.from(encrypt, 'base64').length).toBe(m.cipherBytes);
          if (m.fullStrBytes) expect(20 + m.msgLen + Buffer.byteLength(m.appId)).toBe(m.fullStrBytes);
        });

        it('signs sig4 (and sig3 where given)', () => {
          expect(crypto.msgSignature(m.timestamp, m.nonce, m.encrypt)).toBe(m.msgSignature);
          expect(crypto.verifyMsgSignature(m.msgSignature, m.timestamp, m.nonce, m.encrypt)).toBe(true);
          expect(crypto.verifyMsgSignature(m.msgSignature, m.timestamp, `${m.nonce}1`, m.encrypt)).toBe(
            false,
          );
          if (m.signature) {
            expect(crypto.signature(m.timestamp, m.nonce)).toBe(m.signature);
            expect(crypto.verifySignature(m.signature, m.timestamp, m.nonce)).toBe(true);
          }
        });
      });
    }
  }

  it('D2: plain signature and the urlVerify example', () => {
    const d2 = vector('D2');
    const crypto = cryptoFor('D2', d2.appId!);
    const ps = d2.plainSignature!;
    expect(crypto.signature(ps.timestamp, ps.nonce)).toBe(ps.signature);
    const uv = d2.urlVerify!;
    expect([d2.token, uv.timestamp, uv.nonce].sort().join('')).toBe(uv.sortedJoined);
    expect(crypto.signature(uv.timestamp, uv.nonce)).toBe(uv.signature);
    expect(crypto.verifySignature(uv.signature, uv.timestamp, uv.nonce)).toBe(true);
  });

  it('E: an authorizer push decrypts with the component appid as tail', () => {
    const e = vector('E');
    const push = e.messages[0]!;
    const crypto = cryptoFor('E', e.componentAppId!);
    expect(crypto.decrypt(push.encrypt).appid).toBe(e.componentAppId);
    expect(() => cryptoFor('E', e.authorizerAppId!).decrypt(push.encrypt)).toThrow(WeChatCryptoError);
  });
});

describe('decodeEncodingAesKey', () => {
  it('accepts 43 alphanumerics and rejects everything else', () => {
    expect(decodeEncodingAesKey(ZERO_KEY)).toEqual(Buffer.alloc(32));
    for (const bad of [
      'A'.repeat(42),
      'A'.repeat(44),
      `${'A'.repeat(42)}+`,
      `${'A'.repeat(42)}/`,
      `${'A'.repeat(42)}=`,
      `${'A'.repeat(42)} `,
      '',
    ]) {
      expect(reasonOf(() => decodeEncodingAesKey(bad))).toBe('bad_key');
    }
  });

  it('a bad key fails construction with bad_key, for the previous key too', () => {
    expect(reasonOf(() => new WeChatCrypto({ token: 't', encodingAesKey: 'short', appid: APPID }))).toBe(
      'bad_key',
    );
    expect(
      reasonOf(
        () =>
          new WeChatCrypto({
            token: 't',
            encodingAesKey: ZERO_KEY,
            appid: APPID,
            previousEncodingAesKey: 'x',
          }),
      ),
    ).toBe('bad_key');
  });
});

describe('signatures', () => {
  it('sorts byte-wise (UTF-8 order), not by UTF-16 code units', () => {
    const parts = ['\u{1F600}', '\uFF61', 'b', 'a'];
    const byBytes = parts.map((p) => Buffer.from(p)).sort(Buffer.compare);
    const expected = createHash('sha1').update(Buffer.concat(byBytes)).digest('hex');
    expect(sha1Signature(parts)).toBe(expected);
    expect(sha1Signature(parts)).not.toBe(
      createHash('sha1')
        .update([...parts].sort().join(''))
        .digest('hex'),
    );
  });

  it('does not reorder the caller array', () => {
    const parts = ['b', 'a'];
    sha1Signature(parts);
    expect(parts).toEqual(['b', 'a']);
  });

  it('safeEqualHex is false on any difference, including length', () => {
    expect(safeEqualHex('abc123', 'abc123')).toBe(true);
    expect(safeEqualHex('abc123', 'abc124')).toBe(false);
    expect(safeEqualHex('abc123', 'abc12')).toBe(false);
    expect(safeEqualHex('é', 'ab')).toBe(false);
    expect(safeEqualHex(undefined as unknown as string, 'ab')).toBe(false);
  });
});

describe('decrypt rejects malformed input', () => {
  const crypto = new WeChatCrypto({ token: 'AAAAA', encodingAesKey: ZERO_KEY, appid: APPID });
  const sample = crypto.encrypt('<xml><a>1</a></xml>');

  it('wrong key', () => {
    const other = new WeChatCrypto({ token: 'AAAAA', encodingAesKey: OTHER_KEY, appid: APPID });
    expect(['bad_padding', 'bad_length_field', 'bad_utf8', 'appid_mismatch']).toContain(
      reasonOf(() => other.decrypt(sample)),
    );
  });

  it('empty, non-base64, URL-safe alphabet and whitespace', () => {
    expect(reasonOf(() => crypto.decrypt(''))).toBe('bad_block_length');
    for (const bad of [
      '****',
      'abc',
      `${sample.slice(0, 8)}-_${sample.slice(10)}`,
      ` ${sample}`,
      `${sample}\n`,
    ]) {
      expect(reasonOf(() => crypto.decrypt(bad))).toBe('bad_base64');
    }
    expect(reasonOf(() => crypto.decrypt(42 as unknown as string))).toBe('bad_base64');
  });

  it('lengths that are not a non-zero multiple of 32', () => {
    for (const n of [16, 31, 33, 48]) {
      expect(reasonOf(() => crypto.decrypt(randomBytes(n).toString('base64')))).toBe('bad_block_length');
    }
  });

  it('truncated ciphertext', () => {
    const long = crypto.encrypt('x'.repeat(200));
    const truncated = Buffer.from(long, 'base64').subarray(0, 64).toString('base64');
    expect(['bad_padding', 'bad_length_field']).toContain(reasonOf(() => crypto.decrypt(truncated)));
  });

  it('padding bytes of 0 and 33, and inconsistent padding', () => {
    const msg = Buffer.from('hello');
    const base = fullStr(msg, APPID);
    const n = base[base.length - 1]!;
    for (const last of [0, 33]) {
      const forged = Buffer.from(base);
      forged[forged.length - 1] = last;
      expect(reasonOf(() => crypto.decrypt(sealRaw(forged)))).toBe('bad_padding');
    }
    const mixed = Buffer.from(base);
    mixed[mixed.length - n] = n + 1;
    expect(reasonOf(() => crypto.decrypt(sealRaw(mixed)))).toBe('bad_padding');
    expect(crypto.decrypt(sealRaw(base)).message).toBe('hello');
  });

  it('a length field beyond the content, and content shorter than the header', () => {
    expect(
      reasonOf(() => crypto.decrypt(sealRaw(fullStr(Buffer.from('hi'), APPID, { lengthField: 1e6 })))),
    ).toBe('bad_length_field');
    const tiny = Buffer.concat([randomBytes(12), Buffer.alloc(20, 20)]);
    expect(reasonOf(() => crypto.decrypt(sealRaw(tiny)))).toBe('bad_length_field');
  });

  it('invalid UTF-8 in the message', () => {
    expect(reasonOf(() => crypto.decrypt(sealRaw(fullStr(Buffer.from([0xff, 0xfe, 0x41]), APPID))))).toBe(
      'bad_utf8',
    );
  });

  it('wrong tail appid; expectedAppid overrides or (null) disables the check', () => {
    const foreign = crypto.encrypt('hi', undefined, 'wx0000000000000000');
    expect(reasonOf(() => crypto.decrypt(foreign))).toBe('appid_mismatch');
    expect(crypto.decrypt(foreign, { expectedAppid: 'wx0000000000000000' }).message).toBe('hi');
    expect(crypto.decrypt(foreign, { expectedAppid: null }).appid).toBe('wx0000000000000000');
    expect(reasonOf(() => crypto.decrypt(sample, { expectedAppid: 'wxother' }))).toBe('appid_mismatch');
  });

  it('keeps the message untrimmed and multi-byte exact, and pads a 32-multiple with a full block', () => {
    const text = ' 你好\n\uFEFF ';
    expect(crypto.decrypt(crypto.encrypt(text)).message).toBe(text);
    // 58-byte message + 18-byte appid = 96 bytes of FullStr -> 128 bytes of ciphertext.
    const exact = crypto.encrypt('m'.repeat(58));
    expect(Buffer.from(exact, 'base64').length).toBe(128);
  });

  it('encrypt insists on 16 random bytes', () => {
    expect(() => crypto.encrypt('x', Buffer.alloc(15))).toThrow(RangeError);
  });
});

describe('key rotation', () => {
  const oldCrypto = new WeChatCrypto({ token: 't', encodingAesKey: OTHER_KEY, appid: APPID });
  const rotated = new WeChatCrypto({
    token: 't',
    encodingAesKey: ZERO_KEY,
    appid: APPID,
    previousEncodingAesKey: OTHER_KEY,
  });

  it('falls back to the previous key and says so', () => {
    const out = rotated.decrypt(oldCrypto.encrypt('from before the change'));
    expect(out).toMatchObject({ message: 'from before the change', keyUsed: 'previous' });
    expect(rotated.decrypt(rotated.encrypt('new')).keyUsed).toBe('current');
  });

  it('without a previous key the old ciphertext is refused', () => {
    const current = new WeChatCrypto({ token: 't', encodingAesKey: ZERO_KEY, appid: APPID });
    expect(() => current.decrypt(oldCrypto.encrypt('x'))).toThrow(WeChatCryptoError);
  });

  it("reports the current key's reason when both fail", () => {
    expect(reasonOf(() => rotated.decrypt(rotated.encrypt('x', undefined, 'wxother')))).toBe(
      'appid_mismatch',
    );
  });
});

describe('fuzz: only WeChatCryptoError ever escapes decrypt', () => {
  it('survives random, bit-flipped and re-encoded inputs', () => {
    const crypto = new WeChatCrypto({
      token: 't',
      encodingAesKey: ZERO_KEY,
      appid: APPID,
      previousEncodingAesKey: OTHER_KEY,
    });
    const seed = Buffer.from(crypto.encrypt('<xml><Content><![CDATA[fuzz 你好]]></Content></xml>'), 'base64');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ !\n';
    const inputs: string[] = [];
    for (let i = 0; i < 1500; i++) {
      const flipped = Buffer.from(seed);
      const flips = 1 + (i % 4);
      for (let f = 0; f < flips; f++) {
        const bit = Math.floor(Math.random() * flipped.length * 8);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
      }
      inputs.push(flipped.toString('base64'));
      inputs.push(randomBytes(32 * (1 + (i % 6))).toString('base64'));
      const text = seed.toString('base64').split('');
      text[Math.floor(Math.random() * text.length)] = alphabet[Math.floor(Math.random() * alphabet.length)]!;
      inputs.push(text.join(''));
      inputs.push(
        randomBytes(i % 97)
          .toString('base64')
          .slice(0, i % 50),
      );
    }
    let accepted = 0;
    for (const input of inputs) {
      try {
        crypto.decrypt(input, { expectedAppid: expectedFor(input) });
        accepted++;
      } catch (err) {
        expect(err).toBeInstanceOf(WeChatCryptoError);
      }
    }
    expect(inputs.length).toBeGreaterThanOrEqual(6000);
    // Flipping bits in the first block only garbles `random`, so some inputs legitimately survive.
    expect(accepted).toBeLessThan(inputs.length);
  });
});

// Half the fuzz runs without the tail check so every later step is reached on garbage too.
function expectedFor(input: string): string | null | undefined {
  return input.length % 2 === 0 ? null : undefined;
}

describe('secrets stay private', () => {
  it('neither inspect nor JSON show the token or the key', () => {
    const crypto = new WeChatCrypto({
      token: 'TOKEN_SHOULD_NOT_SHOW',
      encodingAesKey: OTHER_KEY,
      appid: APPID,
    });
    const shown = inspect(crypto, { showHidden: true, depth: 5 }) + JSON.stringify(crypto);
    expect(shown).not.toContain('TOKEN_SHOULD_NOT_SHOW');
    expect(shown).not.toContain(OTHER_KEY);
    expect(shown).toContain(APPID);
  });
});
