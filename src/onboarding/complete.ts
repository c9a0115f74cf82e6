import { setTimeout as delay } from 'node:timers/promises';
import { notifyDeliveries } from '../delivery/outbox.js';
import type { Deps } from '../deps.js';
import { AppError } from '../errors.js';
import { lookupHash } from '../secrets.js';
import {
  type AuthorizerChange,
  changeEvent,
  emit,
  readAuthorizerRow,
  unauthorizedEvent,
} from './authorizer-events.js';
import { AUTHORIZER_COLUMNS, type AuthorizerRow } from './authorizers.js';
import { withComponentToken } from './component-token.js';
import { isReleaseTestAccount } from './release-accounts.js';

// Completing an authorization code (wechat-protocol.md §2.2, §3.3, §3.8). The browser redirect and the
// `authorized` push carry the same code and may arrive in any order, any number of times, on any instance:
//  1. claim: INSERT auth_codes ON CONFLICT DO NOTHING; the winner alone calls api_query_auth (a second exchange
//     would fail with 61009). A claim left without an appid for CLAIM_STALE_MS (its holder died) is re-taken
//     with a conditional UPDATE.
//  2. exchange transaction: code → appid, tokens and permissions stored, tenant bound (the former tenant gets
//     authorizer.unauthorized "reassigned"), and the event type to emit decided from the state before.
//  3. finish: api_get_authorizer_info, then one transaction stores userName/nickname, sets `authorized`, and
//     emits the event only if it sets auth_codes.completed_at (a conditional UPDATE): one event per code.
// Losers of step 1 wait for the winner's step 2, then run step 3 themselves (idempotent).

const CLAIM_STALE_MS = 60_000;
const WAIT_FOR_EXCHANGE_MS = 8_000;
const POLL_MS = 50;

export interface CompleteInput {
  code: string;
  /** the link's tenant as the caller knows it (state JWT, or the PreAuthCode's link); null: none known */
  tenantId: string | null;
  linkId: string | null;
  /**
   * the link comes from the `authorized` push's PreAuthCode: WeChat's word, where a callback's state is only
   * the browser's (see preferPushedLink)
   */
  fromPush?: boolean;
}

export interface CompleteResult {
  appid: string;
  row: AuthorizerRow;
}

interface CodeRow {
  authorizer_appid: string | null;
  tenant_id: string | null;
  link_id: string | null;
  created_at: Date;
  completed_at: Date | null;
}

export function codeHash(deps: Deps, code: string): string {
  return lookupHash(deps.keys.lookup, `auth-code:${code}`);
}

async function readCode(deps: Deps, hash: string): Promise<CodeRow | null> {
  const rows = await deps.db.query<CodeRow>(
    'SELECT authorizer_appid, tenant_id, link_id, created_at, completed_at FROM auth_codes WHERE code_hash = $1',
    [hash],
  );
  return rows[0] ?? null;
}

/** Step 1: true when this caller must exchange the code. */
async function claim(deps: Deps, hash: string, input: CompleteInput): Promise<boolean> {
  const now = deps.clock.now();
  const inserted = await deps.db.query(
    `INSERT INTO auth_codes (code_hash, tenant_id, link_id, created_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (code_hash) DO NOTHING RETURNING code_hash`,
    [hash, input.tenantId, input.linkId, now],
  );
  if (inserted.length > 0) return true;
  // Known already: fill in the link if the first path did not know it, and re-take a dead claim.
  await deps.db.query(
    `UPDATE auth_codes SET tenant_id = COALESCE(tenant_id, $2), link_id = COALESCE(link_id, $3)
     WHERE code_hash = $1 AND (tenant_id IS NULL OR link_id IS NULL)`,
    [hash, input.tenantId, input.linkId],
  );
  const retaken = await deps.db.query(
    `UPDATE auth_codes SET created_at = $2
     WHERE code_hash = $1 AND authorizer_appid IS NULL AND created_at < $3 RETURNING code_hash`,
    [hash, now, new Date(now.getTime() - CLAIM_STALE_MS)],
  );
  return retaken.length > 0;
}

/** Step 2, after api_query_auth answered: one transaction records everything the code gave us. */
async function recordExchange(
  deps: Deps,
  hash: string,
  input: CompleteInput,
  r: {
    authorizerAppid: string;
    accessToken: string;
    expiresIn: number;
    refreshToken: string;
    permissions: number[];
  },
): Promise<void> {
  const now = deps.clock.now();
  const appid = r.authorizerAppid;
  const releaseTest = isReleaseTestAccount(appid);
  const notify = await deps.db.transaction(async (q) => {
    const codeRows = await q<{ tenant_id: string | null; link_appid: string | null }>(
      `SELECT c.tenant_id, l.appid AS link_appid FROM auth_codes c
       LEFT JOIN authorization_links l ON l.id = COALESCE(c.link_id, $2) WHERE c.code_hash = $1 FOR UPDATE OF c`,
      [hash, input.linkId],
    );
    // A link made for one appid binds that appid only: WeChat's biz_appid is only a parameter of the page's
    // URL, so whoever edits it authorizes another mini-program, which then keeps its current tenant.
    const linkAppid = codeRows[0]?.link_appid ?? null;
    const foreign = linkAppid !== null && linkAppid !== appid;
    if (foreign) deps.log.warn({ appid, linkAppid }, 'authorization for another appid than its link names');
    const linkedTenant = releaseTest || foreign ? null : (codeRows[0]?.tenant_id ?? input.tenantId);
    const before = await q<{ tenant_id: string | null; status: string }>(
      'SELECT tenant_id, status FROM authorizers WHERE appid = $1 FOR UPDATE',
      [appid],
    );
    const prior = before[0];
    // A code from no link of ours (console re-authorization, unknown PreAuthCode) keeps the current tenant.
    const tenantId = releaseTest ? null : (linkedTenant ?? prior?.tenant_id ?? null);
    const wasLive = prior !== undefined && prior.status !== 'unauthorized' && prior.status !== 'pending';
    const eventType: AuthorizerChange =
      wasLive && prior.tenant_id === tenantId ? 'authorizer.updated' : 'authorizer.authorized';
    const expiresAt = new Date(now.getTime() + r.expiresIn * 1000);
    await q(
      `INSERT INTO authorizers (appid, tenant_id, status, permissions, access_token_enc, access_token_expires_at,
         access_token_issued_at, token_version, refresh_token_enc, created_at, updated_at)
       VALUES ($1, $2, 'pending', $3::int4[], $4, $5, $6, 1, $7, $6, $6)
       ON CONFLICT (appid) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, permissions = EXCLUDED.permissions,
         access_token_enc = EXCLUDED.access_token_enc, access_token_expires_at = EXCLUDED.access_token_expires_at,
         access_token_issued_at = EXCLUDED.access_token_issued_at, token_version = authorizers.token_version + 1,
         refresh_token_enc = EXCLUDED.refresh_token_enc, last_error = NULL, updated_at = EXCLUDED.updated_at,
         status = CASE WHEN authorizers.status = 'reauthorization_required' THEN 'authorized'
                       WHEN authorizers.tenant_id IS DISTINCT FROM EXCLUDED.tenant_id THEN 'pending'
                       ELSE authorizers.status END`,
      [
        appid,
        tenantId,
        `{${r.permissions.join(',')}}`,
        deps.secrets.encrypt(r.accessToken),
        expiresAt,
        now,
        deps.secrets.encrypt(r.refreshToken),
      ],
    );
    await q(
      'UPDATE auth_codes SET authorizer_appid = $2, tenant_id = $3, event_type = $4 WHERE code_hash = $1',
      [hash, appid, tenantId, eventType],
    );
    const moved =
      prior?.tenant_id && prior.tenant_id !== tenantId && prior.status !== 'unauthorized'
        ? unauthorizedEvent(prior.tenant_id, appid, 'reassigned')
        : [];
    return emit(q, moved, now);
  });
  if (notify) notifyDeliveries(deps);
}

/** Step 3: info stored, status authorized, the code's event emitted once. */
async function finish(deps: Deps, hash: string, appid: string): Promise<AuthorizerRow> {
  const componentAppid = deps.config.wechat.componentAppid;
  const info = await withComponentToken(deps, (ct) =>
    deps.wechat.getAuthorizerInfo(ct, componentAppid, appid),
  );
  const now = deps.clock.now();
  const result = await deps.db.transaction(async (q) => {
    const done = await q<{ event_type: AuthorizerChange | null }>(
      'UPDATE auth_codes SET completed_at = $2 WHERE code_hash = $1 AND completed_at IS NULL RETURNING event_type',
      [hash, now],
    );
    const first = done[0];
    const rows = await q<AuthorizerRow>(
      `UPDATE authorizers SET user_name = $2, nickname = $3, head_img = $4,
         status = CASE WHEN status = 'unauthorized' AND NOT $6 THEN status ELSE 'authorized' END,
         authorized_at = CASE WHEN $5::text = 'authorizer.authorized' OR authorized_at IS NULL THEN $7
                              ELSE authorized_at END,
         updated_at = $7
       WHERE appid = $1 RETURNING ${AUTHORIZER_COLUMNS}`,
      [
        appid,
        info.userName,
        info.nickname,
        info.headImg,
        first?.event_type ?? 'none',
        first !== undefined,
        now,
      ],
    );
    const row = rows[0];
    if (!row) throw new Error('authorizer row missing after the exchange');
    const n = first?.event_type ? await emit(q, changeEvent(row, first.event_type), now) : 0;
    return { row, n };
  });
  if (result.n) notifyDeliveries(deps);
  return result.row;
}

/** Both onboarding paths (and 全网发布's QUERY_AUTH_CODE) come through here; safe to repeat. */
export async function completeAuthorization(deps: Deps, input: CompleteInput): Promise<CompleteResult> {
  const result = await completeCode(deps, input);
  if (!input.fromPush || input.tenantId === null || result.row.tenant_id === input.tenantId) return result;
  return preferPushedLink(deps, codeHash(deps, input.code), input, result);
}

/**
 * A callback can be presented with any valid state: whoever has a live code of another tenant's link (it
 * travels in the administrator's redirect URL) and a state of their own could complete it first, for their
 * tenant. The push names the pre-auth code the code came from, so when a callback bound this very code through
 * another link, the push moves the mini-program to its link's tenant: the other tenant gets
 * authorizer.unauthorized "reassigned", this one authorizer.authorized. A link made for another appid never
 * binds (as in recordExchange), and a later authorization through another code stands.
 */
async function preferPushedLink(
  deps: Deps,
  hash: string,
  input: CompleteInput,
  result: CompleteResult,
): Promise<CompleteResult> {
  const { appid } = result;
  const now = deps.clock.now();
  const moved = await deps.db.transaction(async (q) => {
    const [code] = await q<{ tenant_id: string | null; link_id: string | null; link_appid: string | null }>(
      `SELECT c.tenant_id, c.link_id, l.appid AS link_appid FROM auth_codes c
       LEFT JOIN authorization_links l ON l.id = $2 WHERE c.code_hash = $1 FOR UPDATE OF c`,
      [hash, input.linkId],
    );
    if (!code || code.link_id === input.linkId) return null;
    if (code.link_appid !== null && code.link_appid !== appid) return null;
    const [before] = await q<{ tenant_id: string | null }>(
      'SELECT tenant_id FROM authorizers WHERE appid = $1 FOR UPDATE',
      [appid],
    );
    if (!before || before.tenant_id !== code.tenant_id || before.tenant_id === input.tenantId) return null;
    await q('UPDATE authorizers SET tenant_id = $2, updated_at = $3 WHERE appid = $1', [
      appid,
      input.tenantId,
      now,
    ]);
    await q('UPDATE auth_codes SET tenant_id = $2, link_id = $3 WHERE code_hash = $1', [
      hash,
      input.tenantId,
      input.linkId,
    ]);
    const row = (await readAuthorizerRow(q, appid)) as AuthorizerRow;
    let n = await emit(q, unauthorizedEvent(before.tenant_id, appid, 'reassigned'), now);
    if (row.status === 'authorized') n += await emit(q, changeEvent(row, 'authorizer.authorized'), now);
    return { row, n };
  });
  if (!moved) return result;
  deps.log.warn(
    { appid, tenantId: input.tenantId, linkId: input.linkId },
    "authorization code completed through another link's callback first; the push's link decides",
  );
  if (moved.n) notifyDeliveries(deps);
  return { appid, row: moved.row };
}

async function completeCode(deps: Deps, input: CompleteInput): Promise<CompleteResult> {
  const hash = codeHash(deps, input.code);
  if (await claim(deps, hash, input)) {
    const componentAppid = deps.config.wechat.componentAppid;
    let r: Awaited<ReturnType<Deps['wechat']['queryAuth']>>;
    try {
      r = await withComponentToken(deps, (ct) => deps.wechat.queryAuth(ct, componentAppid, input.code));
    } catch (err) {
      // Free the claim so a later attempt (the other path, a retry) may try again.
      await deps.db
        .query('DELETE FROM auth_codes WHERE code_hash = $1 AND authorizer_appid IS NULL', [hash])
        .catch(() => {});
      throw err;
    }
    await recordExchange(deps, hash, input, r);
    const row = await finish(deps, hash, r.authorizerAppid);
    return { appid: r.authorizerAppid, row };
  }
  const waitUntil = performance.now() + WAIT_FOR_EXCHANGE_MS;
  for (;;) {
    const code = await readCode(deps, hash);
    if (code?.authorizer_appid) {
      const appid = code.authorizer_appid;
      if (code.completed_at) {
        const row = await readAuthorizerRow(deps.db.query, appid);
        if (row && row.status !== 'pending') return { appid, row };
      }
      return { appid, row: await finish(deps, hash, appid) };
    }
    if (!code) return completeCode(deps, input); // the claimer failed and freed it: try ourselves
    if (performance.now() >= waitUntil) {
      throw new AppError('wechat_unavailable', 'The authorization code is still being exchanged');
    }
    await delay(POLL_MS);
  }
}

/**
 * Housekeeping: pre-auth codes live minutes and codes are single-use, so rows a day past their use only grow
 * the tables (a replayed event is still caught by component_events' dedupe key). Ticket events (144 a day) are
 * kept a week: a replay older than that would only be refused again by the ticket's write-if-newer.
 */
export async function purgeSpentCodes(deps: Deps): Promise<void> {
  const cutoff = new Date(deps.clock.now().getTime() - 24 * 3600_000);
  await deps.db.query('DELETE FROM pre_auth_codes WHERE expires_at < $1', [cutoff]);
  await deps.db.query('DELETE FROM auth_codes WHERE completed_at < $1', [cutoff]);
  await deps.db.query(
    "DELETE FROM component_events WHERE info_type = 'component_verify_ticket' AND received_at < $1",
    [new Date(cutoff.getTime() - 6 * 24 * 3600_000)],
  );
}

/** Codes exchanged but never finished (api_get_authorizer_info failed): finished by a background job. */
export async function finishIncomplete(deps: Deps, limit = 20): Promise<number> {
  const cutoff = new Date(deps.clock.now().getTime() - CLAIM_STALE_MS);
  const rows = await deps.db.query<{ code_hash: string; authorizer_appid: string }>(
    `SELECT code_hash, authorizer_appid FROM auth_codes
     WHERE authorizer_appid IS NOT NULL AND completed_at IS NULL AND created_at < $1
     ORDER BY created_at LIMIT $2`,
    [cutoff, limit],
  );
  let done = 0;
  for (const r of rows) {
    try {
      await finish(deps, r.code_hash, r.authorizer_appid);
      done++;
    } catch (err) {
      deps.log.warn({ err, appid: r.authorizer_appid }, 'finishing an authorization failed; retried later');
    }
  }
  return done;
}
