import { notifyDeliveries } from '../delivery/outbox.js';
import type { Deps } from '../deps.js';
import { AppError } from '../errors.js';
import { TOKEN_ERRCODES, WeChatApiError } from '../wechat/errors.js';
import { changeEvent, emit, unauthorizedEvent } from './authorizer-events.js';
import { AUTHORIZER_COLUMNS, type AuthorizerRow } from './authorizers.js';
import { withComponentToken } from './component-token.js';
import { type CachedToken, type FreshToken, insideMargin, requestMarginMs, TokenSlot } from './token-slot.js';

// Authorizer access tokens (wechat-protocol.md §3.4, §3.9): cached encrypted in `authorizers`, refreshed with
// the refresh token single-flight across instances; the refresh token WeChat returns is always stored.

export function authorizerSlot(deps: Deps, appid: string): TokenSlot {
  return new TokenSlot(
    deps,
    {
      table: 'authorizers',
      keyColumn: 'appid',
      kind: 'authorizer',
      missing: () =>
        new AppError('mini_program_unauthorized', 'The mini-program has not authorized kefu-relay'),
    },
    appid,
  );
}

const unauthorized = (detail: string, errcode?: number) =>
  new AppError(
    'mini_program_unauthorized',
    detail,
    errcode === undefined ? {} : { wechatErrcode: errcode, wechatErrmsg: `errcode ${errcode}` },
  );

/** Looks an appid up in api_get_authorizer_list (paged): its entry, or null when WeChat does not list it. */
async function listedAuthorizer(deps: Deps, appid: string) {
  const componentAppid = deps.config.wechat.componentAppid;
  const count = 500;
  for (let offset = 0; ; offset += count) {
    const page = await withComponentToken(deps, (ct) =>
      deps.wechat.getAuthorizerList(ct, componentAppid, offset, count),
    );
    const found = page.list.find((e) => e.authorizerAppid === appid);
    if (found) return found;
    if (page.list.length === 0 || offset + page.list.length >= page.totalCount) return null;
  }
}

/** Stores the refresh token WeChat returned, unless a re-authorization replaced ours meanwhile. */
async function storeRefreshToken(deps: Deps, appid: string, sealedBefore: string, refreshToken: string) {
  await deps.db.query(
    'UPDATE authorizers SET refresh_token_enc = $3, updated_at = $4 WHERE appid = $1 AND refresh_token_enc = $2',
    [appid, sealedBefore, deps.secrets.encrypt(refreshToken), deps.clock.now()],
  );
}

/** 61023 with no better refresh token at WeChat: reauthorization_required + authorizer.updated, once. */
async function markReauthorizationRequired(deps: Deps, appid: string, sealedBefore: string) {
  const now = deps.clock.now();
  const emitted = await deps.db.transaction(async (q) => {
    const rows = await q<AuthorizerRow>(
      `UPDATE authorizers SET status = 'reauthorization_required', last_error = 'refresh token rejected (61023)',
         updated_at = $3
       WHERE appid = $1 AND refresh_token_enc = $2 AND status = 'authorized' RETURNING ${AUTHORIZER_COLUMNS}`,
      [appid, sealedBefore, now],
    );
    return rows[0] ? emit(q, changeEvent(rows[0], 'authorizer.updated'), now) : 0;
  });
  if (emitted) notifyDeliveries(deps);
  deps.log.warn({ appid }, 'authorizer refresh token rejected; reauthorization required');
}

/**
 * The mini-program revoked us (61003 confirmed by the list, or the `unauthorized` event): tokens destroyed,
 * authorizer.unauthorized once. `revokedAt` (the event's CreateTime) leaves an authorization made after it
 * alone: a late or re-sent event must not undo a newer authorization.
 */
export async function markRevoked(deps: Deps, appid: string, revokedAt?: Date): Promise<boolean> {
  const now = deps.clock.now();
  const emitted = await deps.db.transaction(async (q) => {
    const rows = await q<{ tenant_id: string | null }>(
      `UPDATE authorizers SET status = 'unauthorized', access_token_enc = NULL, access_token_expires_at = NULL,
         access_token_issued_at = NULL, refresh_token_enc = NULL, token_version = token_version + 1,
         lease_until = NULL, lease_owner = NULL, updated_at = $2
       WHERE appid = $1 AND status <> 'unauthorized'
         AND ($3::timestamptz IS NULL OR authorized_at IS NULL OR authorized_at <= $3)
       RETURNING tenant_id`,
      [appid, now, revokedAt ?? null],
    );
    return rows[0] ? emit(q, unauthorizedEvent(rows[0].tenant_id, appid, 'revoked'), now) : -1;
  });
  forgetToken(deps, appid);
  if (emitted > 0) notifyDeliveries(deps);
  return emitted >= 0;
}

async function refreshWith(deps: Deps, appid: string, refreshToken: string) {
  const componentAppid = deps.config.wechat.componentAppid;
  return withComponentToken(deps, (ct) =>
    deps.wechat.authorizerToken(ct, componentAppid, appid, refreshToken),
  );
}

/** One refresh with api_authorizer_token, including the 61023 / 61003 recoveries of §3.9. */
async function fetchAuthorizerToken(deps: Deps, appid: string): Promise<FreshToken> {
  const rows = await deps.db.query<{ refresh_token_enc: string | null; status: string }>(
    'SELECT refresh_token_enc, status FROM authorizers WHERE appid = $1',
    [appid],
  );
  const row = rows[0];
  if (!row?.refresh_token_enc || row.status === 'unauthorized' || row.status === 'reauthorization_required') {
    throw unauthorized('The mini-program has not authorized kefu-relay, or must authorize again');
  }
  const sealed = row.refresh_token_enc;
  const refreshToken = deps.secrets.decrypt(sealed);
  try {
    const r = await refreshWith(deps, appid, refreshToken);
    await storeRefreshToken(deps, appid, sealed, r.refreshToken);
    return { token: r.accessToken, expiresIn: r.expiresIn };
  } catch (err) {
    if (!(err instanceof WeChatApiError)) throw err;
    if (err.errcode === 61023) {
      const listed = await listedAuthorizer(deps, appid);
      if (listed?.refreshToken && listed.refreshToken !== refreshToken) {
        // WeChat holds a newer refresh token (a re-authorization we missed): store it and retry once.
        await storeRefreshToken(deps, appid, sealed, listed.refreshToken);
        const r = await refreshWith(deps, appid, listed.refreshToken).catch(async (again: unknown) => {
          if (again instanceof WeChatApiError && again.errcode === 61023) {
            const current = await deps.db.query<{ refresh_token_enc: string }>(
              'SELECT refresh_token_enc FROM authorizers WHERE appid = $1',
              [appid],
            );
            if (current[0]) await markReauthorizationRequired(deps, appid, current[0].refresh_token_enc);
            throw unauthorized(
              'WeChat rejected the refresh token; the mini-program must authorize again',
              61023,
            );
          }
          throw again;
        });
        const current = await deps.db.query<{ refresh_token_enc: string }>(
          'SELECT refresh_token_enc FROM authorizers WHERE appid = $1',
          [appid],
        );
        if (current[0]) await storeRefreshToken(deps, appid, current[0].refresh_token_enc, r.refreshToken);
        return { token: r.accessToken, expiresIn: r.expiresIn };
      }
      await markReauthorizationRequired(deps, appid, sealed);
      throw unauthorized('WeChat rejected the refresh token; the mini-program must authorize again', 61023);
    }
    if (err.errcode === 61003) {
      const listed = await listedAuthorizer(deps, appid);
      if (!listed) await markRevoked(deps, appid);
      throw unauthorized('The mini-program is not authorized to kefu-relay (61003)', 61003);
    }
    throw err;
  }
}

/**
 * A valid authorizer token for appid (single-flight refresh when missing or inside `margin`); what it returns
 * becomes this process's copy too (see currentToken).
 */
export async function getAuthorizerToken(
  deps: Deps,
  appid: string,
  margin?: (lifetimeMs: number) => number,
): Promise<CachedToken> {
  const token = await authorizerSlot(deps, appid).get(() => fetchAuthorizerToken(deps, appid), margin);
  remember(deps, appid, token);
  return token;
}

/*
 * The decrypted authorizer token of this process, per appid, with its token_version and expiry: a send skips
 * the AES-GCM decrypt while it is outside the request margin. One map per deps (each test app has its own).
 * The copy is checked against the row's token_version at most once a minute: a refresh (by the background
 * job here or in any instance) replaces the token in the row, and WeChat honours the replaced one only for a
 * few minutes (5 in its docs), so a copy kept until its own expiry would meet 40001 and spend the call's one
 * retry. A token rejected by WeChat is dropped before the compare-and-expire, so it is never used again here.
 */
const REVALIDATE_MS = 60_000;

interface CacheEntry {
  token: CachedToken;
  /** when the row last had this token_version */
  checkedAt: number;
}

const tokenCaches = new WeakMap<Deps, Map<string, CacheEntry>>();

function tokenCache(deps: Deps): Map<string, CacheEntry> {
  let cache = tokenCaches.get(deps);
  if (!cache) {
    cache = new Map();
    tokenCaches.set(deps, cache);
  }
  return cache;
}

/** Keeps `token` as this process's copy unless the copy is newer already. */
function remember(deps: Deps, appid: string, token: CachedToken): void {
  const cache = tokenCache(deps);
  const latest = cache.get(appid);
  if (!latest || latest.token.version <= token.version)
    cache.set(appid, { token, checkedAt: deps.clock.now().getTime() });
}

async function currentToken(deps: Deps, appid: string): Promise<CachedToken> {
  const cache = tokenCache(deps);
  const cached = cache.get(appid);
  const now = deps.clock.now();
  if (cached && !insideMargin(cached.token, now, requestMarginMs)) {
    if (now.getTime() - cached.checkedAt < REVALIDATE_MS) return cached.token;
    const [row] = await deps.db.query<{ token_version: number }>(
      'SELECT token_version FROM authorizers WHERE appid = $1',
      [appid],
    );
    if (row && Number(row.token_version) === cached.token.version) {
      cached.checkedAt = now.getTime();
      return cached.token;
    }
  }
  return getAuthorizerToken(deps, appid);
}

/** Drops appid's cached token when it is the given version (or any version when omitted). */
function forgetToken(deps: Deps, appid: string, version?: number): void {
  const cache = tokenCache(deps);
  const cached = cache.get(appid);
  if (cached && (version === undefined || cached.token.version === version)) cache.delete(appid);
}

/**
 * Gets a valid authorizer access token for appid (refreshing single-flight across instances when missing or
 * inside its margin), runs call(token); on WeChatApiError whose errcode is in TOKEN_ERRCODES (40001/40014/42001)
 * it expires that token only if it is still the current one (compare on token_version), refreshes
 * (single-flight), and retries call ONCE. A second failure is thrown, never looped.
 */
export async function withAuthorizerToken<T>(
  deps: Deps,
  appid: string,
  call: (accessToken: string) => Promise<T>,
): Promise<T> {
  const first = await currentToken(deps, appid);
  try {
    return await call(first.token);
  } catch (err) {
    if (!(err instanceof WeChatApiError && TOKEN_ERRCODES.has(err.errcode))) throw err;
    deps.log.warn({ appid, errcode: err.errcode, kind: 'authorizer' }, 'token rejected; refreshing once');
    forgetToken(deps, appid, first.version);
    await authorizerSlot(deps, appid).expire(first.version);
    // A concurrent request may have read the row before the expiry and cached the rejected version again: the
    // retry reads the row itself (now expired, or refreshed by someone), so it never resends the rejected token.
    forgetToken(deps, appid, first.version);
    const second = await getAuthorizerToken(deps, appid);
    return call(second.token);
  }
}
