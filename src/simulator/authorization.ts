import { buildXml } from '../wechat/xml.js';
import type { SimContext } from './context.js';
import { newAuthCode, newPreAuthCode, newRefreshToken } from './ids.js';
import { componentEventUrl } from './options.js';
import type { AuthCode, Authorization, PreAuthCode, PushRecord } from './state.js';

export type InfoType = 'authorized' | 'updateauthorized' | 'unauthorized';

export class AuthorizationError extends Error {
  constructor(
    readonly code:
      | 'pre_auth_code_unknown'
      | 'pre_auth_code_expired'
      | 'pre_auth_code_used'
      | 'unknown_mini_program'
      | 'not_authorized'
      | 'invalid_permissions',
    message: string,
  ) {
    super(message);
  }
}

export function createPreAuthCode(ctx: SimContext): PreAuthCode {
  const now = ctx.clock.now();
  const code: PreAuthCode = {
    code: newPreAuthCode(),
    issuedAt: now,
    expiresAt: now + ctx.config.preAuthCodeTtlSeconds * 1000,
    usedAt: null,
  };
  ctx.state.preAuthCodes.set(code.code, code);
  return code;
}

/** Throws unless the code exists, is unused and unexpired; with `consume` it becomes used. */
export function checkPreAuthCode(ctx: SimContext, value: string, consume: boolean): PreAuthCode {
  const code = ctx.state.preAuthCodes.get(value);
  if (!code) throw new AuthorizationError('pre_auth_code_unknown', 'pre_auth_code is invalid');
  if (code.usedAt !== null)
    throw new AuthorizationError('pre_auth_code_used', 'pre_auth_code was already used');
  if (ctx.clock.now() >= code.expiresAt) {
    throw new AuthorizationError('pre_auth_code_expired', 'pre_auth_code has expired');
  }
  if (consume) code.usedAt = ctx.clock.now();
  return code;
}

function pushComponentEvent(
  ctx: SimContext,
  infoType: InfoType,
  appid: string,
  extra: Record<string, string | number>,
): { record: PushRecord; settled: Promise<PushRecord> } {
  const plaintext = buildXml({
    AppId: ctx.config.componentAppid,
    CreateTime: ctx.clock.nowSec(),
    InfoType: infoType,
    AuthorizerAppid: appid,
    ...extra,
  });
  return ctx.pushes.send({
    kind: 'component',
    type: infoType,
    appid,
    openid: null,
    url: componentEventUrl(ctx.config),
    plaintext,
  });
}

function issueAuthCode(
  ctx: SimContext,
  appid: string,
  permissions: number[],
  preAuthCode: string | null,
): AuthCode {
  const now = ctx.clock.now();
  const code: AuthCode = {
    code: newAuthCode(),
    appid,
    permissions: [...permissions],
    preAuthCode,
    issuedAt: now,
    expiresAt: now + ctx.config.authCodeTtlSeconds * 1000,
    usedAt: null,
  };
  ctx.state.authCodes.set(code.code, code);
  return code;
}

function authCodeFields(code: AuthCode): Record<string, string | number> {
  const fields: Record<string, string | number> = {
    AuthorizationCode: code.code,
    AuthorizationCodeExpiredTime: Math.floor(code.expiresAt / 1000),
  };
  if (code.preAuthCode) fields.PreAuthCode = code.preAuthCode;
  return fields;
}

const samePermissions = (a: number[], b: number[]): boolean =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

export interface GrantResult {
  infoType: 'authorized' | 'updateauthorized';
  authCode: AuthCode;
  authorization: Authorization;
  push: { record: PushRecord; settled: Promise<PushRecord> };
}

/**
 * The admin confirmed on the authorization page. A re-authorization rotates the refresh token (the old one
 * keeps working `refreshTokenGraceSeconds`) and is announced as `updateauthorized` only when the granted
 * permission sets really changed.
 */
export function grantAuthorization(
  ctx: SimContext,
  input: { appid: string; permissions: number[]; preAuthCode: string | null },
): GrantResult {
  if (!ctx.state.miniPrograms.has(input.appid)) {
    throw new AuthorizationError('unknown_mini_program', `no simulated mini-program ${input.appid}`);
  }
  const permissions = [...new Set(input.permissions)].sort((a, b) => a - b);
  if (permissions.length === 0)
    throw new AuthorizationError('invalid_permissions', 'grant at least one permission set');
  const now = ctx.clock.now();
  const previous = ctx.state.activeAuthorization(input.appid);
  let infoType: GrantResult['infoType'] = 'authorized';
  let authorization: Authorization;
  if (previous) {
    if (!samePermissions(previous.permissions, permissions)) infoType = 'updateauthorized';
    previous.oldRefreshTokens.push({
      token: previous.refreshToken,
      validUntil: now + ctx.config.refreshTokenGraceSeconds * 1000,
    });
    previous.refreshToken = newRefreshToken();
    previous.permissions = permissions;
    previous.authTime = now;
    authorization = previous;
  } else {
    authorization = {
      appid: input.appid,
      permissions,
      refreshToken: newRefreshToken(),
      oldRefreshTokens: [],
      authTime: now,
      exchanged: false,
      revokedAt: null,
    };
    ctx.state.authorizations.set(input.appid, authorization);
  }
  const authCode = issueAuthCode(ctx, input.appid, permissions, input.preAuthCode);
  const push = pushComponentEvent(ctx, infoType, input.appid, authCodeFields(authCode));
  return { infoType, authCode, authorization, push };
}

/** The admin changed the granted sets in WeChat's settings: `updateauthorized` only when they differ. */
export function updatePermissions(
  ctx: SimContext,
  appid: string,
  permissions: number[],
): { changed: boolean; authCode: AuthCode | null; push: GrantResult['push'] | null } {
  const authorization = ctx.state.activeAuthorization(appid);
  if (!authorization) throw new AuthorizationError('not_authorized', `${appid} is not authorized`);
  const next = [...new Set(permissions)].sort((a, b) => a - b);
  if (next.length === 0)
    throw new AuthorizationError('invalid_permissions', 'grant at least one permission set');
  if (samePermissions(authorization.permissions, next)) return { changed: false, authCode: null, push: null };
  authorization.permissions = next;
  const authCode = issueAuthCode(ctx, appid, next, null);
  const push = pushComponentEvent(ctx, 'updateauthorized', appid, authCodeFields(authCode));
  return { changed: true, authCode, push };
}

/** The admin revoked the platform: later calls answer 61003 and `unauthorized` is pushed. */
export function revokeAuthorization(ctx: SimContext, appid: string): GrantResult['push'] {
  const authorization = ctx.state.activeAuthorization(appid);
  if (!authorization) throw new AuthorizationError('not_authorized', `${appid} is not authorized`);
  authorization.revokedAt = ctx.clock.now();
  return pushComponentEvent(ctx, 'unauthorized', appid, {});
}

/**
 * The browser redirect: `auth_code` and `expires_in` appended, the existing query (our `state`) kept byte for
 * byte. WeChat writes the code's `@@@` unescaped, and so does the simulator.
 */
export function redirectWithCode(redirectUri: string, code: AuthCode, ttlSeconds: number): string {
  const hashAt = redirectUri.indexOf('#');
  const base = hashAt >= 0 ? redirectUri.slice(0, hashAt) : redirectUri;
  const hash = hashAt >= 0 ? redirectUri.slice(hashAt) : '';
  const joiner = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${joiner}auth_code=${code.code}&expires_in=${ttlSeconds}${hash}`;
}
