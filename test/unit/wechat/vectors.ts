import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

// The shared spec sits beside the repository; reading it from cwd makes a missing file fail loudly.
export const VECTORS_PATH = resolve(process.cwd(), '../shared/spec/test-vectors.json');

export interface VectorMessage {
  label: string;
  timestamp: string;
  nonce: string;
  random: string;
  msgLen: number;
  plaintext: string;
  appId: string;
  encrypt: string;
  msgSignature: string;
  signature?: string;
  body?: string;
  toUserName?: string;
  cipherBytes?: number;
  fullStrBytes?: number;
  expectedFields?: Record<string, string>;
}

export interface Vector {
  token: string;
  encodingAESKey: string;
  aesKeyHex: string;
  componentAppId?: string;
  authorizerAppId?: string;
  appId?: string;
  messages: VectorMessage[];
  plainSignature?: { timestamp: string; nonce: string; signature: string };
  urlVerify?: { timestamp: string; nonce: string; echostr: string; sortedJoined: string; signature: string };
}

export const vectors = (JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors: Record<string, Vector> })
  .vectors;

export function vector(id: string): Vector {
  const v = vectors[id];
  if (!v) throw new Error(`test vector ${id} missing from ${VECTORS_PATH}`);
  return v;
}

export function message(id: string, label: string): VectorMessage {
  const m = vector(id).messages.find((x) => x.label === label);
  if (!m) throw new Error(`test vector ${id}/${label} missing`);
  return m;
}
