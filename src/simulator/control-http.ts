import type { Context } from 'hono';
import type { z } from 'zod';
import type { PushRecord } from './state.js';
import { pushView } from './views.js';

/** Control API errors: `application/problem+json` like the product's own API. */
export class ControlError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 422 | 500,
    readonly code: string,
    message: string,
    readonly errors?: unknown,
  ) {
    super(message);
  }
}

export function problem(c: Context, err: ControlError): Response {
  const body = {
    type: `about:blank#${err.code}`,
    title: err.message,
    status: err.status,
    detail: err.message,
    code: err.code,
    ...(err.errors ? { errors: err.errors } : {}),
  };
  return c.body(JSON.stringify(body), err.status, { 'content-type': 'application/problem+json' });
}

export async function parse<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let raw: unknown = {};
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new ControlError(400, 'invalid_json', 'the body is not valid JSON');
    }
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const errors = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = errors[0];
    throw new ControlError(
      400,
      'validation_failed',
      `invalid body: ${first?.path || '(root)'}: ${first?.message}`,
      errors,
    );
  }
  return result.data;
}

/** `wait: true` returns after the push settled (with its attempts); otherwise 202 at once. */
export async function pushAnswer(
  c: Context,
  pushed: { record: PushRecord; settled: Promise<PushRecord> },
  wait: boolean | undefined,
  extra: Record<string, unknown> = {},
): Promise<Response> {
  if (wait) return c.json({ ...extra, push: pushView(await pushed.settled) }, 200);
  return c.json({ ...extra, push: pushView(pushed.record) }, 202);
}

export function sinceParam(c: Context): number {
  const since = Number(c.req.query('since') ?? 0);
  return Number.isFinite(since) ? since : 0;
}
