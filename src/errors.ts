import type { Context } from 'hono';

/** The closed list of problem codes (http-api.md §5, plus method_not_allowed and service_unavailable). */
export const PROBLEM_CODES = {
  unauthorized: { status: 401, title: 'Unauthorized' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  validation_failed: { status: 422, title: 'Validation failed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  mini_program_unauthorized: { status: 409, title: 'Mini-program not authorized' },
  send_window_closed: { status: 409, title: 'Send window closed' },
  send_limit_reached: { status: 429, title: 'Send limit reached' },
  permission_missing: { status: 403, title: 'Permission missing' },
  invalid_openid: { status: 422, title: 'Invalid openid' },
  invalid_media_id: { status: 422, title: 'Invalid media id' },
  wechat_quota_exceeded: { status: 429, title: 'WeChat quota exceeded' },
  wechat_error: { status: 502, title: 'WeChat error' },
  wechat_unavailable: { status: 503, title: 'WeChat unavailable' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused' },
  idempotency_in_progress: { status: 409, title: 'Idempotency key in progress' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  internal: { status: 500, title: 'Internal error' },
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;

export interface FieldError {
  /** JSON-pointer-like path of the offending field, `""` for the body itself */
  path: string;
  message: string;
}

export interface ProblemExtras {
  errors?: FieldError[];
  wechatErrcode?: number;
  wechatErrmsg?: string;
  retryAfterSeconds?: number;
}

/** An error a client may see: its code, a detail written for the client, and optional extensions. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly extras: ProblemExtras = {},
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.name = 'AppError';
    this.status = PROBLEM_CODES[code].status;
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
export const validationFailed = (errors: FieldError[], detail = 'The request is not valid') =>
  new AppError('validation_failed', detail, { errors });

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  requestId: string;
  errors?: FieldError[];
  wechatErrcode?: number;
  wechatErrmsg?: string;
}

export function problemBody(err: AppError, requestId: string): ProblemBody {
  const meta = PROBLEM_CODES[err.code];
  const body: ProblemBody = {
    type: `https://kefu-relay.dev/problems/${err.code.replace(/_/g, '-')}`,
    title: meta.title,
    status: meta.status,
    detail: err.detail,
    code: err.code,
    requestId,
  };
  if (err.extras.errors) body.errors = err.extras.errors;
  if (err.extras.wechatErrcode !== undefined) body.wechatErrcode = err.extras.wechatErrcode;
  if (err.extras.wechatErrmsg !== undefined) body.wechatErrmsg = err.extras.wechatErrmsg;
  return body;
}

/** Renders any AppError as application/problem+json; the one place problems are written. */
export function renderProblem(c: Context, err: AppError): Response {
  const requestId = (c.get('requestId') as string | undefined) ?? '';
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (err.extras.retryAfterSeconds !== undefined)
    headers['retry-after'] = String(err.extras.retryAfterSeconds);
  if (requestId) headers['x-request-id'] = requestId;
  return new Response(JSON.stringify(problemBody(err, requestId)), { status: err.status, headers });
}
