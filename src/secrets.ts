import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Keys derived from MASTER_KEY, one per purpose, so no two uses share key material.
 * The ciphertext names its key id, which leaves room for rotating MASTER_KEY later
 * (decrypt with any known key, encrypt with the newest).
 */
export type KeyPurpose = 'secret-box' | 'api-key-hash' | 'oauth-state' | 'lookup-hash';

export function deriveKey(masterKey: Buffer, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `kefu-relay/${purpose}/v1`, 32));
}

const VERSION = 'k1';

/** AES-256-GCM for tokens and webhook secrets at rest: `k1.<base64(iv 12 | tag 16 | ciphertext)>`. */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  constructor(masterKey: Buffer) {
    this.keys = new Map([[VERSION, deriveKey(masterKey, 'secret-box')]]);
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(VERSION)!, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
  }

  decrypt(sealed: string): string {
    const dot = sealed.indexOf('.');
    const key = this.keys.get(sealed.slice(0, dot));
    if (dot < 0 || !key) throw new Error('sealed value has an unknown key id');
    const raw = Buffer.from(sealed.slice(dot + 1), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}

/** A keyed hash for looking up secrets (API keys, link tokens, codes) without storing them. */
export function lookupHash(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
