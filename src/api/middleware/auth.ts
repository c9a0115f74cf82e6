import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Deps } from '../../deps.js';
import { AppError } from '../../errors.js';
import { authenticateApiKey } from '../../tenants/api-keys.js';
import type { ApiEnv } from '../types.js';

function bearer(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match ? (match[1] as string) : null;
}

const unauthorized = (detail: string) => new AppError('unauthorized', detail);

/** `Authorization: Bearer $ADMIN_TOKEN`, compared in constant time over SHA-256 digests. */
export function adminAuth(deps: Deps): MiddlewareHandler<ApiEnv> {
  const expected = createHash('sha256').update(deps.config.adminToken).digest();
  return async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    if (!token) throw unauthorized('Send the admin token as Authorization: Bearer <ADMIN_TOKEN>');
    const given = createHash('sha256').update(token).digest();
    if (!timingSafeEqual(given, expected)) throw unauthorized('The admin token is not valid');
    await next();
  };
}

/** `Authorization: Bearer kr_…` resolved to its tenant; anything else is 401. */
export function tenantAuth(deps: Deps): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const key = bearer(c.req.header('authorization'));
    if (!key) throw unauthorized('Send an API key as Authorization: Bearer kr_…');
    const tenantId = await authenticateApiKey(deps, key);
    if (!tenantId) throw unauthorized('The API key is not valid or was revoked');
    c.set('tenantId', tenantId);
    c.set('log', c.get('log').child({ tenantId }));
    await next();
  };
}
