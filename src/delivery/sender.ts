import { performance } from 'node:perf_hooks';
import { Agent, type Dispatcher, errors as undiciErrors } from 'undici';
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
    return this.dispatch(url, headers, body, elapsed);
  }

  /**
   * undici's dispatch with a handler of our own: no response stream, async iterator or AbortSignal per attempt
   * (request() with them cost twice the CPU per webhook). One timer bounds the attempt end to end.
   */
  private dispatch(
    url: URL,
    headers: Record<string, string>,
    body: string,
    elapsed: () => number,
  ): Promise<PostOutcome> {
    const { timeoutMs } = this.opts;
    return new Promise<PostOutcome>((resolve) => {
      let controller: Dispatcher.DispatchController | null = null;
      let settled = false;
      let statusCode: number | null = null;
      let retryAfter: string | null = null;
      let cutOff = false;
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let seen = 0;
      const finish = (error: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          statusCode: error === null ? statusCode : null,
          durationMs: elapsed(),
          error,
          body: error === null ? decodeKept(kept) : null,
          retryAfter: error === null ? retryAfter : null,
        });
      };
      // made when needed: an Error captures a stack trace, which would cost every attempt
      const timeout = () =>
        Object.assign(new Error(`timed out after ${timeoutMs} ms`), { name: 'TimeoutError' });
      const timer = setTimeout(() => {
        const err = timeout();
        controller?.abort(err);
        finish(describeError(err, timeoutMs));
      }, timeoutMs);
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (settled) c.abort(timeout());
        },
        onResponseStart(_c, code, responseHeaders) {
          statusCode = code;
          const ra = responseHeaders['retry-after'];
          retryAfter = Array.isArray(ra) ? (ra[0] ?? null) : (ra ?? null);
        },
        onResponseData(c, chunk) {
          if (keptBytes < KEEP_BYTES) {
            const part = chunk.subarray(0, KEEP_BYTES - keptBytes);
            kept.push(part);
            keptBytes += part.length;
          }
          seen += chunk.length;
          if (seen > DRAIN_LIMIT && !cutOff) {
            // beyond this the socket is dropped rather than drained for reuse; the answer still counts
            cutOff = true;
            c.abort(new Error('response body over the drain limit'));
          }
        },
        onResponseEnd() {
          finish(null);
        },
        onResponseError(_c, err) {
          if (cutOff && statusCode !== null) finish(null);
          else finish(describeError(err, timeoutMs));
        },
      };
      try {
        this.agent.dispatch(
          { origin: url.origin, path: `${url.pathname}${url.search}`, method: 'POST', headers, body },
          handler,
        );
      } catch (err) {
        finish(describeError(err, timeoutMs));
      }
    });
  }

  close(): Promise<void> {
    return this.agent.destroy();
  }
}

/**
 * The first 1 KiB as UTF-8: a multi-byte character cut at the boundary is dropped, not mangled; PostgreSQL
 * text cannot hold NUL, so a binary answer must not make the attempt row unwritable.
 */
function decodeKept(kept: Buffer[]): string {
  if (kept.length === 0) return '';
  return new TextDecoder('utf-8')
    .decode(kept.length === 1 ? kept[0] : Buffer.concat(kept), { stream: true })
    .replaceAll('\u0000', '\ufffd');
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
