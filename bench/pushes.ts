import { randomBytes } from 'node:crypto';
import { buildEncryptedPush, buildXml, type WeChatCrypto } from '../src/wechat/index.js';
import type { LoadRequest } from './load.js';

// Distinct encrypted pushes, built before the clock starts: each one has its own MsgId, nonce and random
// block, so no two are alike and none is a duplicate the ingest could answer without storing.

/** What a user typed: mixed Chinese and ASCII, as real 客服 messages are. */
const SENTENCE = '您好，我想咨询一下订单 #20261201 的物流状态，已经三天没有更新了，麻烦帮忙查一下。Thanks! ';

export interface PushFactoryOptions {
  crypto: WeChatCrypto;
  appid: string;
  /** the mini-program's original id (gh_…), the decrypted ToUserName */
  userName: string;
  /** distinct users the pushes come from (so conversation rows are not one hot row) */
  users?: number;
  /** the size of the POST body to aim at, in bytes */
  bodyBytes?: number;
}

/** A MsgId of 17 digits (above 2^53, as real ones are) whose first two digits name the phase that sent it. */
export function msgIdFor(tag: number, seq: number): string {
  return `${tag}${String(seq).padStart(15, '0')}`;
}

export function tagOf(msgId: string): number {
  return Number(msgId.slice(0, 2));
}

export function openidFor(i: number): string {
  return `oBenchUser${String(i).padStart(18, '0')}`;
}

/** An independent position in a batch: two servers with stores of their own can take the same pushes. */
export interface PushCursor {
  next: () => LoadRequest | null;
  readonly used: number;
}

export class PushBatch {
  private readonly first: PushCursor;
  constructor(readonly requests: LoadRequest[]) {
    this.first = this.cursor();
  }
  /** the batch's own cursor */
  readonly next = (): LoadRequest | null => this.first.next();
  cursor(): PushCursor {
    let i = 0;
    const requests = this.requests;
    return {
      next: () => requests[i++] ?? null,
      get used() {
        return Math.min(i, requests.length);
      },
    };
  }
  get meanBodyBytes(): number {
    let sum = 0;
    for (const r of this.requests) sum += Buffer.byteLength(r.body ?? '');
    return this.requests.length ? sum / this.requests.length : 0;
  }
}

export class PushFactory {
  private readonly users: number;
  private content = '';
  constructor(private readonly opts: PushFactoryOptions) {
    this.users = opts.users ?? 10_000;
    // Size the text once so the whole body lands near the target (base64 grows the ciphertext by 4/3).
    const target = opts.bodyBytes ?? 700;
    let text = '';
    while (Buffer.byteLength(this.build(0, 0, text).body ?? '') < target) {
      text += SENTENCE[text.length % SENTENCE.length];
    }
    this.content = text;
  }

  private build(tag: number, seq: number, content: string): LoadRequest {
    const msgId = msgIdFor(tag, seq);
    const openid = openidFor(seq % this.users);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(randomBytes(4).readUInt32BE(0));
    const plaintext = buildXml({
      ToUserName: this.opts.userName,
      FromUserName: openid,
      CreateTime: Number(timestamp),
      MsgType: 'text',
      Content: content,
      MsgId: msgId,
    });
    const push = buildEncryptedPush(this.opts.crypto, plaintext, {
      outer: { ToUserName: this.opts.userName },
      timestamp,
      nonce,
    });
    const query = new URLSearchParams({
      signature: push.signature,
      timestamp,
      nonce,
      openid,
      encrypt_type: 'aes',
      msg_signature: push.msgSignature,
    });
    return {
      method: 'POST',
      path: `/wechat/callback/${this.opts.appid}?${query}`,
      headers: { 'content-type': 'text/xml' },
      body: push.body,
      tag: msgId,
    };
  }

  /** `n` pushes whose MsgIds start with `tag` (10–99), numbered from `from`. */
  generate(tag: number, n: number, from = 0): PushBatch {
    const requests: LoadRequest[] = new Array(n);
    for (let i = 0; i < n; i++) requests[i] = this.build(tag, from + i, this.content);
    return new PushBatch(requests);
  }
}
