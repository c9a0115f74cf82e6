import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Deps, RequestContext } from '../deps.js';
import { newId } from '../ids.js';
import { lookupHash, randomToken } from '../secrets.js';
import { preAuthCodeHash } from './component-events.js';
import { withComponentToken } from './component-token.js';

// Authorization links (http-api.md §2, §4; wechat-protocol.md §3.8). The tenant's link points at our own
// landing page, which mints a fresh pre-auth code per view; only the hash of the link token is stored.

export const DEFAULT_LINK_SECONDS = 7 * 24 * 3600;
/** The admin may linger on WeChat's page; the state only has to outlive one authorization. */
export const STATE_SECONDS = 3600;

export interface LinkInput {
  returnUrl?: string | undefined;
  appid?: string | undefined;
  mobile?: boolean | undefined;
  expiresIn?: number | undefined;
}

export interface Link {
  id: string;
  tenantId: string;
  returnUrl: string | null;
  appid: string | null;
  mobile: boolean;
  expiresAt: Date;
}

const linkTokenHash = (deps: Deps, token: string) => lookupHash(deps.keys.lookup, `link:${token}`);

export async function createAuthorizationLink(ctx: RequestContext, input: LinkInput) {
  const { deps } = ctx;
  const now = deps.clock.now();
  const token = randomToken(24);
  const id = newId('aul', now.getTime());
  const expiresAt = new Date(now.getTime() + (input.expiresIn ?? DEFAULT_LINK_SECONDS) * 1000);
  await deps.db.query(
    `INSERT INTO authorization_links (id, tenant_id, token_hash, return_url, appid, mobile, expires_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      id,
      ctx.tenantId,
      linkTokenHash(deps, token),
      input.returnUrl ?? null,
      input.appid ?? null,
      input.mobile ?? false,
      expiresAt,
      now,
    ],
  );
  const base = deps.config.publicBaseUrl.replace(/\/+$/, '');
  return { id, url: `${base}/connect/${token}`, expiresAt: expiresAt.toISOString() };
}

/** The live link behind a /connect token, or null (unknown or expired). */
export async function findLiveLink(deps: Deps, token: string): Promise<Link | null> {
  const rows = await deps.db.query<{
    id: string;
    tenant_id: string;
    return_url: string | null;
    appid: string | null;
    mobile: boolean;
    expires_at: Date;
  }>(
    `SELECT id, tenant_id, return_url, appid, mobile, expires_at FROM authorization_links
     WHERE token_hash = $1 AND expires_at > $2`,
    [linkTokenHash(deps, token), deps.clock.now()],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    tenantId: r.tenant_id,
    returnUrl: r.return_url,
    appid: r.appid,
    mobile: r.mobile,
    expiresAt: r.expires_at,
  };
}

export interface StateClaims {
  tenantId: string;
  linkId: string;
  returnUrl: string | null;
}

export async function signState(deps: Deps, claims: StateClaims): Promise<string> {
  const now = Math.floor(deps.clock.now().getTime() / 1000);
  return new SignJWT({ tid: claims.tenantId, lid: claims.linkId, ret: claims.returnUrl })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(now)
    .setExpirationTime(now + STATE_SECONDS)
    .setAudience('kefu-relay/authorize-callback')
    .sign(deps.keys.oauthState);
}

/** The claims of a valid, unexpired state; null for anything else. */
export async function verifyState(deps: Deps, state: string): Promise<StateClaims | null> {
  try {
    const { payload } = await jwtVerify(state, deps.keys.oauthState, {
      algorithms: ['HS256'],
      audience: 'kefu-relay/authorize-callback',
      currentDate: deps.clock.now(),
    });
    const { tid, lid, ret } = payload as { tid?: unknown; lid?: unknown; ret?: unknown };
    if (typeof tid !== 'string' || typeof lid !== 'string') return null;
    return { tenantId: tid, linkId: lid, returnUrl: typeof ret === 'string' ? ret : null };
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) return null;
    throw err;
  }
}

/**
 * Mints a pre-auth code for one view of the landing page, records it for the `authorized` event to find the
 * link, and builds WeChat's authorization URL (PC or mobile, §3.8) with a redirect_uri carrying our state.
 */
export async function authorizationUrlFor(deps: Deps, link: Link): Promise<string> {
  const { wechat, publicBaseUrl } = deps.config;
  const minted = await withComponentToken(deps, (ct) =>
    deps.wechat.createPreAuthCode(ct, wechat.componentAppid),
  );
  const now = deps.clock.now();
  await deps.db.query(
    `INSERT INTO pre_auth_codes (code_hash, link_id, tenant_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (code_hash) DO NOTHING`,
    [
      preAuthCodeHash(deps, minted.preAuthCode),
      link.id,
      link.tenantId,
      new Date(now.getTime() + minted.expiresIn * 1000),
      now,
    ],
  );
  const state = await signState(deps, {
    tenantId: link.tenantId,
    linkId: link.id,
    returnUrl: link.returnUrl,
  });
  const redirect = `${publicBaseUrl.replace(/\/+$/, '')}/wechat/authorize/callback?state=${encodeURIComponent(state)}`;
  const params: [string, string][] = [];
  if (link.mobile) params.push(['action', 'bindcomponent'], ['no_scan', '1']);
  params.push(
    ['component_appid', wechat.componentAppid],
    ['pre_auth_code', minted.preAuthCode],
    ['redirect_uri', redirect],
    ['auth_type', '2'],
  );
  if (link.appid) params.push(['biz_appid', link.appid]);
  const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  const base = link.mobile ? wechat.mobileAuthPageUrl : wechat.authPageUrl;
  return `${base}${base.includes('?') ? '&' : '?'}${query}${link.mobile ? '#wechat_redirect' : ''}`;
}

/** The link's returnUrl with `appid` and `status=authorized` appended. */
export function returnUrlWith(returnUrl: string, appid: string): string {
  const url = new URL(returnUrl);
  url.searchParams.append('appid', appid);
  url.searchParams.append('status', 'authorized');
  return url.toString();
}
