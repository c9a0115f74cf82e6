import type { WeChatCrypto } from '../wechat/crypto.js';
import { buildEncryptedPush } from '../wechat/envelope.js';
import { parseXmlDocument } from '../wechat/xml.js';
import type { SimClock } from './clock.js';
import { newNonce } from './ids.js';
import type { SimConfig } from './options.js';
import type { PushAttempt, PushRecord, SimState } from './state.js';

export interface PushInput {
  kind: PushRecord['kind'];
  type: string;
  appid: string;
  openid: string | null;
  /** gh_… of the mini-program (authorizer pushes) — the outer ToUserName. */
  toUserName?: string;
  url: string;
  plaintext: string;
}

const BODY_LIMIT = 1024;

function describeError(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `timeout after ${timeoutMs} ms`;
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}

/**
 * Delivers pushes the way WeChat does: POST the encrypted XML, wait `pushTimeoutMs` for `200` with a body that
 * is exactly `success` (or empty, or a valid encrypted passive reply), otherwise drop the connection and send
 * the same body again, `pushAttempts` attempts in all, each `pushRetryDelayMs` after the one before began
 * (5 s: a refused connection or a 503 is re-sent 5 s later, as a timed-out attempt is). Every attempt is
 * recorded.
 */
export class PushService {
  private readonly inflight = new Set<AbortController>();
  private readonly pending = new Set<Promise<unknown>>();
  private stopping = false;
  private counter = 0;

  constructor(
    private readonly deps: {
      config: SimConfig;
      state: () => SimState;
      clock: SimClock;
      crypto: () => WeChatCrypto;
      log: (line: string) => void;
    },
  ) {}

  /** Continues push ids after a restored state, so ids stay unique. */
  continueAfter(records: PushRecord[]): void {
    for (const r of records) this.counter = Math.max(this.counter, Number(r.id.replace(/^push_/, '')) || 0);
  }

  send(input: PushInput): { record: PushRecord; settled: Promise<PushRecord> } {
    const { clock, config } = this.deps;
    const state = this.deps.state();
    this.counter += 1;
    const record: PushRecord = {
      id: `push_${String(this.counter).padStart(6, '0')}`,
      kind: input.kind,
      type: input.type,
      appid: input.appid,
      openid: input.openid,
      url: input.url,
      plaintext: input.plaintext,
      createdAt: clock.now(),
      status: 'pending',
      attempts: [],
      reply: null,
    };
    state.remember(state.pushes, record);
    state.events.emit('push', record);
    const timestamp = String(clock.nowSec());
    const nonce = newNonce();
    const outer =
      input.kind === 'component' ? { AppId: config.componentAppid } : { ToUserName: input.toUserName };
    const built = buildEncryptedPush(this.deps.crypto(), input.plaintext, { outer, timestamp, nonce });
    const query = new URLSearchParams({ signature: built.signature, timestamp, nonce });
    if (input.openid) query.set('openid', input.openid);
    query.set('encrypt_type', 'aes');
    query.set('msg_signature', built.msgSignature);
    const separator = input.url.includes('?') ? '&' : '?';
    const target = `${input.url}${separator}${query.toString()}`;
    const settled = this.deliver(record, target, built.body, nonce).then(() => {
      state.events.emit('push', record);
      return record;
    });
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
    return { record, settled };
  }

  private async deliver(record: PushRecord, target: string, body: string, nonce: string): Promise<void> {
    const { config } = this.deps;
    const attempts = Math.max(1, config.pushAttempts);
    let began = 0;
    for (let n = 1; n <= attempts && !this.stopping; n++) {
      // the next attempt begins pushRetryDelayMs after the last one began, however that one ended
      const wait = n > 1 ? began + config.pushRetryDelayMs - Date.now() : 0;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.stopping) break;
      began = Date.now();
      const attempt = await this.attempt(record, n, target, body, nonce);
      record.attempts.push(attempt);
      this.deps.state().events.emit('push', record);
      if (attempt.ok) {
        record.status = 'delivered';
        return;
      }
    }
    record.status = 'failed';
    this.deps.log(
      `simulator: push ${record.id} (${record.type}) failed after ${record.attempts.length} attempts`,
    );
  }

  private async attempt(
    record: PushRecord,
    n: number,
    target: string,
    body: string,
    nonce: string,
  ): Promise<PushAttempt> {
    const timeoutMs = this.deps.config.pushTimeoutMs;
    const controller = new AbortController();
    this.inflight.add(controller);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const startedAt = this.deps.clock.now();
    const started = performance.now();
    const result: PushAttempt = {
      n,
      startedAt,
      durationMs: 0,
      status: null,
      body: null,
      error: null,
      ok: false,
    };
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'text/xml', 'user-agent': 'Mozilla/4.0' },
        body,
        signal: controller.signal,
      });
      const text = await res.text();
      result.status = res.status;
      result.body = text.slice(0, BODY_LIMIT);
      if (res.status !== 200) result.error = `HTTP ${res.status}`;
      else if (text === 'success' || text === '') result.ok = true;
      else this.checkPassiveReply(record, text, nonce, result);
    } catch (err) {
      result.error = describeError(err, timedOut, timeoutMs);
    } finally {
      clearTimeout(timer);
      this.inflight.delete(controller);
      result.durationMs = Math.round(performance.now() - started);
    }
    return result;
  }

  /** An encrypted passive reply (全网发布) counts as an answer only if it verifies, decrypts and is a message. */
  private checkPassiveReply(record: PushRecord, text: string, nonce: string, result: PushAttempt): void {
    const crypto = this.deps.crypto();
    try {
      const fields = text.trimStart().startsWith('{')
        ? (JSON.parse(text) as Record<string, unknown>)
        : (parseXmlDocument(text) as Record<string, unknown>);
      const encrypt = String(fields.Encrypt ?? '');
      const signature = String(fields.MsgSignature ?? '');
      const timestamp = String(fields.TimeStamp ?? '');
      const replyNonce = String(fields.Nonce ?? '');
      if (!encrypt) throw new Error('answer is neither "success" nor an encrypted reply');
      const verified = crypto.verifyMsgSignature(signature, timestamp, replyNonce, encrypt);
      const { message } = crypto.decrypt(encrypt, { expectedAppid: this.deps.config.componentAppid });
      record.reply = { plaintext: message, verified, error: null };
      if (!verified) result.error = 'reply MsgSignature does not verify';
      else if (replyNonce !== nonce) result.error = 'reply Nonce does not echo the push nonce';
      else if (!message.trimStart().startsWith('<')) result.error = 'encrypted reply is not a message';
      else result.ok = true;
    } catch (err) {
      result.error = `bad reply: ${err instanceof Error ? err.message : String(err)}`;
      if (!record.reply) record.reply = { plaintext: '', verified: false, error: result.error };
    }
  }

  /** Waits for pushes in flight (used by tests and `wait: true`). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.inflight) c.abort();
    await this.idle();
  }
}
