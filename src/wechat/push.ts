import type { DecryptResult, KeyUsed, WeChatCrypto } from './crypto.js';
import {
  type Envelope,
  EnvelopeError,
  type EnvelopeFormat,
  parseEnvelope,
  parseInnerPayload,
} from './envelope.js';

// Steps 1–4 of wechat-protocol.md §1.7, in that order, for both push endpoints (component events and
// authorizer pushes): nothing is decrypted before the signature verifies, and nothing here touches the
// database, so a rejected push leaves no trace but a log line.

export type PushRejection = 'too_large' | 'bad_request' | 'rejected_signature';

export class PushRejectedError extends Error {
  override readonly name = 'PushRejectedError';
  constructor(
    readonly result: PushRejection,
    readonly status: 400 | 401 | 413,
    message: string,
  ) {
    super(message);
  }
}

export interface PushQuery {
  msgSignature: string | undefined;
  timestamp: string | undefined;
  nonce: string | undefined;
}

export interface OpenedPush {
  format: EnvelopeFormat;
  envelope: Envelope;
  /** the decrypted payload, every field a string */
  fields: Record<string, string>;
  /** the decrypted text itself (dedupe of component events hashes it) */
  plaintext: string;
  /** the EncodingAESKey that decrypted it: a passive reply is encrypted with the same */
  keyUsed: KeyUsed;
}

const rejectSignature = (message: string) => new PushRejectedError('rejected_signature', 401, message);
const badRequest = (message: string) => new PushRejectedError('bad_request', 400, message);

/** Verifies and decrypts one push (tail appid = the crypto's appid, the component); throws PushRejectedError. */
export function openPush(crypto: WeChatCrypto, body: string, query: PushQuery): OpenedPush {
  let envelope: Envelope;
  try {
    envelope = parseEnvelope(body);
  } catch (err) {
    if (!(err instanceof EnvelopeError)) throw err;
    if (err.reason === 'too_large') throw new PushRejectedError('too_large', 413, 'body over 1 MiB');
    if (err.reason === 'missing_encrypt') throw rejectSignature('no Encrypt in the envelope');
    throw badRequest(`envelope ${err.reason}`);
  }
  const { msgSignature, timestamp, nonce } = query;
  if (!msgSignature || timestamp === undefined || nonce === undefined) {
    throw rejectSignature('msg_signature, timestamp or nonce missing');
  }
  if (!crypto.verifyMsgSignature(msgSignature, timestamp, nonce, envelope.encrypt)) {
    throw rejectSignature('msg_signature does not verify');
  }
  let decrypted: DecryptResult;
  try {
    decrypted = crypto.decrypt(envelope.encrypt);
  } catch {
    throw rejectSignature('Encrypt does not decrypt for this platform');
  }
  const plaintext = decrypted.message;
  try {
    return {
      format: envelope.format,
      envelope,
      plaintext,
      fields: parseInnerPayload(plaintext, envelope.format),
      keyUsed: decrypted.keyUsed,
    };
  } catch (err) {
    if (!(err instanceof EnvelopeError)) throw err;
    throw badRequest(`payload ${err.reason}`);
  }
}
