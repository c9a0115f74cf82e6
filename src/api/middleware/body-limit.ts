import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError, renderProblem } from '../../errors.js';
import type { ApiEnv } from '../types.js';

export const MAX_JSON_BODY = 1024 * 1024;
/** media uploads carry a 2 MiB image plus the multipart framing */
export const MAX_MEDIA_BODY = 2 * 1024 * 1024 + 64 * 1024;

const tooLarge = (limit: number) =>
  bodyLimit({
    maxSize: limit,
    onError: (c) =>
      // WeChat's push URLs get a bare status: it reads nothing but `success`.
      c.req.path.startsWith('/wechat/')
        ? c.text('too_large', 413)
        : renderProblem(c, new AppError('payload_too_large', `The request body exceeds ${limit} bytes`)),
  });

/** 1 MiB for every body, except the media route's larger allowance. */
export function bodyLimits(): MiddlewareHandler<ApiEnv> {
  const standard = tooLarge(MAX_JSON_BODY);
  const media = tooLarge(MAX_MEDIA_BODY);
  return (c, next) => (/\/media$/.test(c.req.path) ? media(c, next) : standard(c, next));
}
