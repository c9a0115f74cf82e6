import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Deps } from '../../deps.js';
import type { ApiEnv } from '../types.js';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/**
 * Paths that carry a secret: whoever has a link token can onboard a mini-program to its tenant. Judged by the
 * path, not the matched route: a 404 or 405 under /connect/ matches no route with a :token.
 */
const CREDENTIAL_PATH = /^\/connect\//;

// randomBytes per request is a call into the CSPRNG (~6 µs under load) for 12 bytes; one call fills ids for
// the next 256 requests. Request ids are correlation handles, not secrets.
const ID_BYTES = 12;
const POOL_IDS = 256;
let pool = Buffer.alloc(0);
let poolAt = 0;
function newRequestId(): string {
  if (poolAt >= pool.length) {
    pool = randomBytes(ID_BYTES * POOL_IDS);
    poolAt = 0;
  }
  const id = pool.toString('hex', poolAt, poolAt + ID_BYTES);
  poolAt += ID_BYTES;
  return `req_${id}`;
}

/**
 * Request id (an incoming `x-request-id` when it is sane, else a new one) on every response, a child logger per
 * request, and one access-log line with the route pattern (never the query: it may carry codes; and only the
 * pattern for a path that holds a credential).
 */
export function requestContext(deps: Deps): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : newRequestId();
    const log = deps.log.child({ requestId });
    c.set('requestId', requestId);
    c.set('log', log);
    const started = performance.now();
    await next();
    c.res.headers.set('x-request-id', requestId);
    // shutting down: the listener is closed, so a keep-alive client must take its next request elsewhere
    if (deps.lifecycle.stopping) c.res.headers.set('connection', 'close');
    const status = c.res.status;
    const route = c.req.routePath || 'unmatched';
    deps.metrics.httpRequests.inc({ method: c.req.method, route, status: `${Math.floor(status / 100)}xx` });
    const line = {
      method: c.req.method,
      // a path that carries a credential (an authorization link's token) is logged as its route only
      path: CREDENTIAL_PATH.test(c.req.path) ? '/connect/:token' : c.req.path,
      route,
      status,
      durationMs: Math.round(performance.now() - started),
    };
    // a 503 from /readyz while stopping is the drain telling load balancers to move away, not a failure
    if (status >= 500 && !(deps.lifecycle.stopping && route === '/readyz')) log.error(line, 'request failed');
    else log.info(line, 'request');
  };
}
