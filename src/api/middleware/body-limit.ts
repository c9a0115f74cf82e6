import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError, renderProblem } from '../../errors.js';
import { MEDIA_MAX_BYTES } from '../../messaging/media.js';
import type { ApiEnv } from '../types.js';

export const MAX_JSON_BODY = 1024 * 1024;
/** media uploads carry a 2 MiB image plus the multipart framing */
export const MAX_MEDIA_BODY = MEDIA_MAX_BYTES + 64 * 1024;

const tooLarge = (limit: number, detail: string) =>
  bodyLimit({
    maxSize: limit,
    onError: (c) => {
      // WeChat's push URLs get a bare status: it reads nothing but `success`.
      const res = c.req.path.startsWith('/wechat/')
        ? c.text('too_large', 413)
        : renderProblem(c, new AppError('payload_too_large', detail));
      // The rest of the body is never read, so the server drops the connection soon after: say so, or a
      // keep-alive client sends its next request on a socket about to close and gets no answer.
      res.headers.set('connection', 'close');
      return res;
    },
  });

/** the one route that takes more than 1 MiB */
const isMediaUpload = (method: string, path: string) =>
  method === 'POST' && /^\/v1\/mini-programs\/[^/]+\/media$/.test(path);

/**
 * 1 MiB for every body, except the media route's larger allowance. A body with a Content-Length (and no
 * Transfer-Encoding) is judged on the header alone, without touching `c.req.raw.body`: on @hono/node-server
 * that getter builds a whole web Request (AbortController, web stream) per request, and it disables the
 * server's direct read of the body that `c.req.text()` uses otherwise (measured: ~2% of ingest CPU in the
 * stream machinery alone). Chunked bodies go through hono's counting limiter.
 */
export function bodyLimits(): MiddlewareHandler<ApiEnv> {
  const standard = tooLarge(MAX_JSON_BODY, `The request body exceeds ${MAX_JSON_BODY} bytes (1 MiB)`);
  // said as the image's limit, the one the client controls (the form's framing is allowed for on top)
  const media = tooLarge(
    MAX_MEDIA_BODY,
    `The upload exceeds the image limit of ${MEDIA_MAX_BYTES} bytes (2 MiB)`,
  );
  return (c, next) => {
    const isMedia = isMediaUpload(c.req.method, c.req.path);
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      const limit = isMedia ? MAX_MEDIA_BODY : MAX_JSON_BODY;
      const n = Number(length);
      // an unparsable length goes to hono's limiter, which decides as before
      if (Number.isSafeInteger(n) && n >= 0) {
        if (n <= limit) return next();
        return (isMedia ? media : standard)(c, next);
      }
    }
    return isMedia ? media(c, next) : standard(c, next);
  };
}
