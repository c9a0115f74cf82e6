import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';

/** What the receiver answers on a path: a status (with headers and body), after a delay, or never. */
export type Reply =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | { hang: true };

export interface ReceivedRequest {
  method: string;
  path: string;
  /** lower-cased names */
  headers: Record<string, string>;
  /** the raw body, exactly as received */
  body: string;
  /** Date.now() on arrival */
  receivedAt: number;
}

export interface TestReceiver {
  /** http://127.0.0.1:<port>/webhook */
  readonly url: string;
  /** http://127.0.0.1:<port><path> */
  urlFor(path: string): string;
  /** the answer on `path` from now on (default: 200 "ok") */
  reply(path: string, reply: Reply): void;
  /** answers used once each, in order, before the sticky one */
  replyOnce(path: string, ...replies: Reply[]): void;
  requests(path?: string): ReceivedRequest[];
  /** the first request (already received or still to come) for which `match` holds; rejects after `timeoutMs` */
  waitFor(match: (r: ReceivedRequest) => boolean, timeoutMs?: number): Promise<ReceivedRequest>;
  /** resolves once `count` requests arrived (on `path`, if given); rejects after `timeoutMs` */
  waitForCount(count: number, path?: string, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** forget what was received and every scripted answer */
  reset(): void;
  close(): Promise<void>;
}

/**
 * A webhook receiver for tests: a Hono server on 127.0.0.1:0 that records every request and answers as told
 * (500, 429 with Retry-After, 410, slow, hang …). Hanging requests are released when it closes.
 */
export async function startReceiver(): Promise<TestReceiver> {
  const received: ReceivedRequest[] = [];
  const sticky = new Map<string, Reply>();
  const once = new Map<string, Reply[]>();
  const waiters: Array<() => void> = [];
  const hanging = new Set<() => void>();

  const app = new Hono();
  app.all('*', async (c) => {
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => {
      headers[k] = v;
    });
    received.push({
      method: c.req.method,
      path: c.req.path,
      headers,
      body: await c.req.text(),
      receivedAt: Date.now(),
    });
    for (const w of [...waiters]) w();
    const queued = once.get(c.req.path);
    const reply: Reply = queued?.shift() ?? sticky.get(c.req.path) ?? { status: 200, body: 'ok' };
    if ('hang' in reply) {
      await new Promise<void>((resolve) => hanging.add(resolve));
      return c.text('released', 500);
    }
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    return new Response(reply.body ?? '', { status: reply.status, headers: reply.headers });
  });

  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const matching = (path?: string) => (path ? received.filter((r) => r.path === path) : [...received]);
  const waitUntil = <T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const got = probe();
        if (got === undefined) return;
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
        resolve(got);
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`receiver: ${what} after ${timeoutMs} ms (${received.length} received)`));
      }, timeoutMs);
      waiters.push(check);
      check();
    });

  return {
    url: `http://127.0.0.1:${port}/webhook`,
    urlFor: (path) => `http://127.0.0.1:${port}${path}`,
    reply: (path, reply) => {
      sticky.set(path, reply);
    },
    replyOnce: (path, ...replies) => {
      once.set(path, [...(once.get(path) ?? []), ...replies]);
    },
    requests: matching,
    waitFor: (match, timeoutMs = 5_000) =>
      waitUntil(() => received.find(match), timeoutMs, 'no matching request'),
    waitForCount: (count, path, timeoutMs = 5_000) =>
      waitUntil(
        () => (matching(path).length >= count ? matching(path) : undefined),
        timeoutMs,
        `fewer than ${count} requests on ${path ?? '*'}`,
      ),
    reset: () => {
      received.length = 0;
      sticky.clear();
      once.clear();
    },
    close: async () => {
      for (const release of hanging) release();
      hanging.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}

/** The same, under the name the first tests used. */
export const startTestReceiver = startReceiver;
