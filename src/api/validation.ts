import type { Hook } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { unstorablePath } from '../db/text.js';
import type { FieldError, ProblemCode } from '../errors.js';
import { PROBLEM_CODES, validationFailed } from '../errors.js';

// A missing field says so, whatever its type ("Invalid input: expected nonoptional, received undefined" and a
// union's bare "Invalid input" told a client nothing); a schema's own message still wins where it has one.
z.config({ customError: (issue) => (issue.input === undefined ? 'is required' : undefined) });

/** Zod issues as the problem's `errors`: one entry per problem, unknown fields named one by one. */
export function zodToFieldErrors(error: z.ZodError): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: base ? `${base}.${key}` : key, message: 'is not a known field' });
    } else {
      out.push({ path: base, message: issue.message });
    }
  }
  return out;
}

/**
 * The OpenAPIHono default hook: every request validation failure becomes one 422 problem. Valid input is
 * also refused when a string in it could not be stored as sent (a NUL, an unpaired surrogate; see
 * db/text.ts): otherwise the statement storing it fails with a 500, possibly after WeChat already took the
 * message.
 */
// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by routes of every shape
export const validationHook: Hook<any, any, any, any> = (result) => {
  const target = (result as { target?: string }).target;
  const where =
    target === 'query'
      ? 'query'
      : target === 'param'
        ? 'path'
        : target === 'header'
          ? 'request headers'
          : 'request body';
  if (!result.success) {
    throw validationFailed(zodToFieldErrors(result.error as z.ZodError), `The ${where} is not valid`);
  }
  const bad = unstorablePath((result as { data?: unknown }).data);
  if (bad !== null) {
    throw validationFailed(
      [{ path: bad, message: 'contains a NUL character or an unpaired surrogate, which cannot be stored' }],
      `The ${where} is not valid`,
    );
  }
};

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(Object.keys(PROBLEM_CODES) as [ProblemCode, ...ProblemCode[]]),
    requestId: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    wechatErrcode: z.number().int().optional(),
    wechatErrmsg: z.string().optional(),
  })
  .openapi('Problem');

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** Problem responses a route may document; pick the ones it can produce. */
export const problems = {
  401: problem('Missing or invalid credentials'),
  404: problem('Not found (or another tenant’s)'),
  409: problem('Conflict with the current state'),
  413: problem('Body over the size limit'),
  422: problem('Validation failed'),
  429: problem('Send limit or quota reached'),
  403: problem('Permission missing'),
  502: problem('WeChat refused'),
  503: problem('WeChat or the database unavailable'),
} as const;

/** What a route that calls WeChat for a tenant can answer besides its success (the reply API's verbs). */
export const wechatCallProblems = {
  401: problems[401],
  403: problems[403],
  404: problems[404],
  409: problems[409],
  413: problems[413],
  422: problems[422],
  429: problems[429],
  502: problems[502],
  503: problems[503],
} as const;

export const jsonBody = <T extends z.ZodTypeAny>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

/**
 * For a POST that takes no body (retry, rotate-secret): an empty body (whatever its Content-Type: many clients
 * always send one), `{}` or `null` is fine. Bodies are typed strictly (http-api.md §4), so a field there is a
 * 422 naming it, instead of being ignored in silence, and so is anything else.
 */
export async function refuseBody(c: Context): Promise<void> {
  const text = (await c.req.text()).trim();
  if (text === '') return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (value === null) return;
  const fields = typeof value === 'object' && !Array.isArray(value) ? Object.keys(value as object) : null;
  if (fields?.length === 0) return;
  throw validationFailed(
    fields
      ? fields.map((path) => ({ path, message: 'is not a known field' }))
      : [{ path: '', message: 'this request takes no body' }],
    'The request body is not valid',
  );
}

export const jsonResponse = <T extends z.ZodTypeAny>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const url = z.string().max(2048);

/** an appid or openid (http-api.md §4): also the form of the callback URL's $APPID$ */
export const WECHAT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Shared field rules of http-api.md §4. */
export const fields = {
  /** a point in time as every response writes it (ISO 8601, UTC) */
  instant: z.string().openapi({ format: 'date-time', example: '2026-12-01T08:00:00.000Z' }),
  name: z.string().min(1).max(200),
  description: z.string().max(1000),
  url,
  /** an absolute http(s) URL with a host, at most 2,048 characters */
  httpUrl: url.refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL'),
  openid: z.string().regex(WECHAT_ID, 'must be 1–64 characters of A–Z, a–z, 0–9, _ or -'),
  appid: z.string().regex(WECHAT_ID, 'must be 1–64 characters of A–Z, a–z, 0–9, _ or -'),
};
