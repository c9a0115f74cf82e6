import type { Context } from 'hono';
import type { CallInfo } from './api-route.js';
import type { SimContext } from './context.js';
import { newAccessToken, tokenPrefix } from './ids.js';
import { CUSTOMER_SERVICE_PERMISSION } from './options.js';
import type { Authorization, IssuedToken } from './state.js';
import { WxError } from './wx-error.js';

const byValue = new WeakMap<IssuedToken[], Map<string, IssuedToken>>();

function index(ctx: SimContext): Map<string, IssuedToken> {
  let map = byValue.get(ctx.state.tokens);
  if (!map) {
    map = new Map(ctx.state.tokens.map((t) => [t.token, t]));
    byValue.set(ctx.state.tokens, map);
  }
  return map;
}

/**
 * A new component token makes every earlier one answer 40001 "not latest" at once (wechat-protocol.md §10);
 * a new authorizer token leaves the previous one working for `authorizerTokenGraceSeconds`, like WeChat's
 * documented five-minute overlap, so several relay instances do not trip over each other.
 */
export function issueToken(ctx: SimContext, kind: IssuedToken['kind'], appid: string | null): IssuedToken {
  const now = ctx.clock.now();
  for (const t of ctx.state.tokens) {
    if (t.kind === kind && t.appid === appid && t.supersededAt === null) t.supersededAt = now;
  }
  const token: IssuedToken = {
    token: newAccessToken(),
    kind,
    appid,
    issuedAt: now,
    expiresAt: now + ctx.config.tokenTtlSeconds * 1000,
    supersededAt: null,
    invalidatedAt: null,
  };
  ctx.state.tokens.push(token);
  index(ctx).set(token.token, token);
  return token;
}

export function findToken(ctx: SimContext, token: string): IssuedToken | undefined {
  return index(ctx).get(token);
}

export function tokenStatus(
  ctx: SimContext,
  t: IssuedToken,
): 'valid' | 'superseded' | 'invalidated' | 'expired' {
  const now = ctx.clock.now();
  if (t.invalidatedAt !== null) return 'invalidated';
  if (t.supersededAt !== null) {
    const grace = t.kind === 'component' ? 0 : ctx.config.authorizerTokenGraceSeconds * 1000;
    if (now >= t.supersededAt + grace) return 'superseded';
  }
  if (now >= t.expiresAt) return 'expired';
  return 'valid';
}

/** `component_access_token=` is the documented name, `access_token=` the newer one; both are accepted. */
export function tokenParam(c: Context): string | undefined {
  return c.req.query('component_access_token') || c.req.query('access_token') || undefined;
}

export function checkToken(ctx: SimContext, value: string | undefined, call: CallInfo): IssuedToken {
  if (!value) throw new WxError(41001);
  call.tokenPrefix = tokenPrefix(value);
  const t = findToken(ctx, value);
  if (!t) throw new WxError(40001);
  call.appid = t.appid;
  switch (tokenStatus(ctx, t)) {
    case 'invalidated':
      throw new WxError(40014);
    case 'superseded':
      throw new WxError(40001);
    case 'expired':
      throw new WxError(42001);
    default:
      return t;
  }
}

export function requireComponentToken(ctx: SimContext, c: Context, call: CallInfo): IssuedToken {
  const t = checkToken(ctx, tokenParam(c), call);
  if (t.kind !== 'component') throw new WxError(40001);
  return t;
}

/**
 * Authorizer APIs of 小程序客服: 48001 for a component token or a grant without set 19, 61007 when the
 * platform itself lacks set 19 in the console, 61003 once the mini-program revoked the platform.
 */
export function requireCustomerServiceToken(
  ctx: SimContext,
  c: Context,
  call: CallInfo,
): { token: IssuedToken; appid: string; authorization: Authorization } {
  const t = checkToken(ctx, c.req.query('access_token'), call);
  if (t.kind !== 'authorizer' || !t.appid) throw new WxError(48001);
  const authorization = ctx.state.activeAuthorization(t.appid);
  if (!authorization) throw new WxError(61003);
  if (!ctx.config.platformPermissions.includes(CUSTOMER_SERVICE_PERMISSION)) throw new WxError(61007);
  if (!authorization.permissions.includes(CUSTOMER_SERVICE_PERMISSION)) throw new WxError(48001);
  return { token: t, appid: t.appid, authorization };
}

/** Invalidates the current token(s) of a kind; later calls answer 40014. Returns how many. */
export function invalidateTokens(ctx: SimContext, kind: IssuedToken['kind'], appid: string | null): number {
  let count = 0;
  for (const t of ctx.state.tokens) {
    if (t.kind !== kind || (kind === 'authorizer' && t.appid !== appid)) continue;
    if (tokenStatus(ctx, t) !== 'valid') continue;
    t.invalidatedAt = ctx.clock.now();
    count += 1;
  }
  return count;
}
