import { performance } from 'node:perf_hooks';
import { Agent, errors as undiciErrors } from 'undici';
import { guardedLookup, literalAddressProblem, type Resolver } from './url-policy.js';

export interface PostOutcome {
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** first 1 KiB of the response body, decoded as UTF-8 */
  body: string | null;
  retryAfter: string | null;
}

const KEEP_BYTES = 1024;
/** beyond this a response is cut off (the socket is dropped) rather than drained for connection reuse */
const DRAIN_LIMIT = 64 * 1024;

export interface WebhookSenderOptions {
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  resolve?: Resolver;
}

/**
 * POSTs webhook bodies through one undici Agent (keep-alive pools per origin; `fetch` costs twice as much per
 * request). Every attempt is bounded by `timeoutMs` end to end; redirects are not followed (a 3xx is a failure,
 * and following one would bypass the address guard).
 */
export class WebhookSender {
  private readonly agent: Agent;
  constructor(private readonly opts: WebhookSenderOptions) {
    this.agent = new Agent({
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      keepAliveTimeout: 4_000,
      connect: {
        timeout: opts.timeoutMs,
        ...(opts.allowPrivateNetworks ? {} : { lookup: guardedLookup(opts.resolve) }),
      },
    });
  }

  async post(rawUrl: string, headers: Record<string, string>, body: string): Promise<PostOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return {
        statusCode: null,
        durationMs: 0,
        error: 'the endpoint URL is not valid',
        body: null,
        retryAfter: null,
      };
    }
    if (!this.opts.allowPrivateNetworks) {
      const refused = literalAddressProblem(url);
      if (refused)
        return {
          statusCode: null,
          durationMs: 0,
          error: `refused: ${refused}`,
          body: null,
          retryAfter: null,
        };
    }
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      const res = await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers,
        body,
        signal,
      });
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let seen = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (keptBytes < KEEP_BYTES) {
          const part = chunk.subarray(0, KEEP_BYTES - keptBytes);
          kept.push(part);
          keptBytes += part.length;
        }
        seen += chunk.length;
        if (seen > DRAIN_LIMIT) {
          res.body.destroy();
          break;
        }
      }
      const retryAfter = res.headers['retry-after'];
      return {
        statusCode: res.statusCode,
        durationMs: elapsed(),
        error: null,
        // stream mode holds back a multi-byte character cut at the 1 KiB boundary instead of mangling it
        // PostgreSQL text cannot hold NUL: a binary answer must not make the attempt row unwritable
        body: new TextDecoder('utf-8')
          .decode(Buffer.concat(kept), { stream: true })
          .replaceAll('\u0000', '\ufffd'),
        retryAfter: Array.isArray(retryAfter) ? (retryAfter[0] ?? null) : (retryAfter ?? null),
      };
    } catch (err) {
      return {
        statusCode: null,
        durationMs: elapsed(),
        error: describeError(err, this.opts.timeoutMs),
        body: null,
        retryAfter: null,
      };
    }
  }

  close(): Promise<void> {
    return this.agent.destroy();
  }
}

function describeError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e.name === 'BlockedAddressError' || e.code === 'ERR_KEFU_BLOCKED_ADDRESS')
    return `refused: ${e.message}`;
  if (e.cause && (e.cause as { code?: string }).code === 'ERR_KEFU_BLOCKED_ADDRESS')
    return `refused: ${(e.cause as Error).message}`;
  if (
    e.name === 'TimeoutError' ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  )
    return `timed out after ${timeoutMs} ms`;
  const code = e.code ? `${e.code}: ` : '';
  return `${code}${e.message ?? String(err)}`.replaceAll('\u0000', '').slice(0, 500);
}
