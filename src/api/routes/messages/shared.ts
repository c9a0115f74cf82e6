import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Deps, RequestContext } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import {
  requestFingerprint,
  validateIdempotencyKey,
  withIdempotency,
} from '../../../messaging/idempotency.js';
import type { ApiEnv } from '../../types.js';
import { fields } from '../../validation.js';

// What the reply-API routes (messages, typing, media, conversations) share.

export const security = [{ apiKey: [] }];
export const tags = ['Replies'];

export const AppidParam = z.object({
  appid: fields.appid.openapi({ param: { name: 'appid', in: 'path' }, example: 'wx1234567890abcdef' }),
});

export const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({
      param: { name: 'idempotency-key', in: 'header' },
      description: 'Up to 255 characters; a repeat within 24 h with the same body replays the first response',
    }),
});

export function tenantContext(c: Context<ApiEnv>, deps: Deps): RequestContext {
  return { deps, log: c.get('log'), requestId: c.get('requestId'), tenantId: c.get('tenantId') };
}

/**
 * Runs the operation once per Idempotency-Key (when the header is present) and answers with its response,
 * or the stored one on a repeat (marked `Idempotent-Replayed: true`). Problems are rendered by app.onError,
 * so a replayed problem keeps the problem+json type and, for 45011, its Retry-After.
 */
export async function respondOnce(
  c: Context<ApiEnv>,
  ctx: RequestContext,
  fingerprintBody: unknown,
  run: () => Promise<{ status: number; body: unknown }>,
): Promise<Response> {
  // A send may take WeChat's three attempts and a token refresh: one begun once the shutdown deadline runs could
  // be cut by it after WeChat delivered it, with its Idempotency-Key left in progress. Another instance takes it.
  // (During the drain before, the whole deadline is still ahead: sends go on.)
  if (ctx.deps.lifecycle.closing) {
    throw new AppError('service_unavailable', 'This instance is shutting down; send again to reach another');
  }
  const key = c.req.header('idempotency-key');
  const render = (status: number, body: unknown, replayed: boolean) => {
    const headers = new Headers();
    if (body !== null && body !== undefined) {
      headers.set('content-type', status >= 400 ? 'application/problem+json' : 'application/json');
    }
    if (replayed) headers.set('idempotent-replayed', 'true');
    const problem = body as { code?: string; wechatErrcode?: number } | null;
    if (replayed && problem?.code === 'wechat_quota_exceeded' && problem.wechatErrcode === 45011) {
      headers.set('retry-after', '60');
    }
    const text = body === null || body === undefined || status === 204 ? null : JSON.stringify(body);
    return new Response(text, { status, headers });
  };
  if (key === undefined) {
    const r = await run();
    return render(r.status, r.body, false);
  }
  validateIdempotencyKey(key);
  const outcome = await withIdempotency(
    ctx.deps.db,
    {
      tenantId: ctx.tenantId,
      key,
      fingerprint: requestFingerprint(c.req.method, c.req.path, fingerprintBody),
      now: ctx.deps.clock.now(),
      requestId: ctx.requestId,
    },
    run,
  );
  return render(outcome.response.status, outcome.response.body, outcome.replayed);
}
