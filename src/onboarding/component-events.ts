import type { Deps } from '../deps.js';
import { newId } from '../ids.js';
import { lookupHash, sha256Hex } from '../secrets.js';
import { WeChatApiError } from '../wechat/errors.js';
import { markRevoked } from './authorizer-tokens.js';
import { completeAuthorization } from './complete.js';
import { storeTicket } from './ticket.js';

// Component events (wechat-protocol.md §2): every decrypted event is stored once by its §2.3 dedupe key,
// then processed. Tickets and codes are secrets: the stored payload drops the ticket (it lives encrypted in
// component_state), keeps the authorization code only sealed (a failed exchange is retried from it) and the
// PreAuthCode only as its lookup hash (all that is needed to find the link).

const AUTHORIZE_TYPES = new Set(['authorized', 'updateauthorized']);
/** WeChat said the code is used, invalid or expired: retrying cannot help. */
const FINAL_CODE_ERRCODES = new Set([61009, 61010]);

export function preAuthCodeHash(deps: Deps, preAuthCode: string): string {
  return lookupHash(deps.keys.lookup, `pre-auth-code:${preAuthCode}`);
}

export function dedupeKey(deps: Deps, p: Record<string, string>, plaintext: string): string {
  const infoType = p.InfoType ?? '';
  const h = (v: string | undefined) => lookupHash(deps.keys.lookup, `dedupe:${v ?? ''}`);
  if (infoType === 'component_verify_ticket')
    return `ticket:${h(p.ComponentVerifyTicket)}:${p.CreateTime ?? ''}`;
  if (AUTHORIZE_TYPES.has(infoType))
    return `${infoType}:${p.AuthorizerAppid ?? ''}:${h(p.AuthorizationCode)}`;
  if (infoType === 'unauthorized') return `unauthorized:${p.AuthorizerAppid ?? ''}:${p.CreateTime ?? ''}`;
  return `other:${infoType}:${p.CreateTime ?? ''}:${sha256Hex(plaintext)}`;
}

function storedPayload(deps: Deps, p: Record<string, string>): Record<string, string> {
  const { ComponentVerifyTicket: _ticket, AuthorizationCode: code, PreAuthCode: preAuth, ...rest } = p;
  const out: Record<string, string> = { ...rest };
  if (code) out.AuthorizationCodeSealed = deps.secrets.encrypt(code);
  if (preAuth) out.PreAuthCodeHash = preAuthCodeHash(deps, preAuth);
  return out;
}

export interface StoredComponentEvent {
  id: string;
  infoType: string;
  duplicate: boolean;
  /** processing still to do (authorized / updateauthorized / unauthorized) */
  pending: boolean;
}

/** Stores the event (and a ticket) in one transaction; a duplicate stores nothing. */
export async function storeComponentEvent(
  deps: Deps,
  payload: Record<string, string>,
  plaintext: string,
): Promise<StoredComponentEvent> {
  const now = deps.clock.now();
  const infoType = payload.InfoType ?? '';
  const pending = AUTHORIZE_TYPES.has(infoType) || infoType === 'unauthorized';
  const createTime = /^\d{1,10}$/.test(payload.CreateTime ?? '') ? Number(payload.CreateTime) : null;
  const id = newId('cev', now.getTime());
  return deps.db.transaction(async (q) => {
    const rows = await q<{ id: string }>(
      `INSERT INTO component_events (id, dedupe_key, info_type, authorizer_appid, create_time, payload, received_at,
         processed_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
      [
        id,
        dedupeKey(deps, payload, plaintext),
        infoType,
        payload.AuthorizerAppid ?? null,
        createTime,
        JSON.stringify(storedPayload(deps, payload)),
        now,
        pending ? null : now,
      ],
    );
    if (rows.length === 0) return { id, infoType, duplicate: true, pending: false };
    if (infoType === 'component_verify_ticket' && payload.ComponentVerifyTicket && createTime !== null) {
      await storeTicket(deps, payload.ComponentVerifyTicket, createTime, q);
    }
    return { id, infoType, duplicate: false, pending };
  });
}

interface EventRow {
  id: string;
  info_type: string;
  authorizer_appid: string | null;
  payload: Record<string, string>;
}

const REVOCATION_CLOCK_MARGIN_S = 10;

async function settle(deps: Deps, id: string, error: string | null, done: boolean): Promise<void> {
  await deps.db.query('UPDATE component_events SET processed_at = $2, error = $3 WHERE id = $1', [
    id,
    done ? deps.clock.now() : null,
    error,
  ]);
}

async function linkOfPreAuthCode(deps: Deps, hash: string | undefined) {
  if (!hash) return { tenantId: null, linkId: null };
  const rows = await deps.db.query<{ tenant_id: string; link_id: string }>(
    'SELECT tenant_id, link_id FROM pre_auth_codes WHERE code_hash = $1',
    [hash],
  );
  return { tenantId: rows[0]?.tenant_id ?? null, linkId: rows[0]?.link_id ?? null };
}

/**
 * Processes one stored authorized / updateauthorized / unauthorized event. Failure policy: a WeChat or
 * database failure leaves the row unprocessed with its error, and retryComponentEvents takes it up again
 * until the code's AuthorizationCodeExpiredTime; 61009/61010 (the code is spent or expired) end it at once,
 * error kept.
 */
export async function processComponentEvent(deps: Deps, row: EventRow): Promise<void> {
  const appid = row.authorizer_appid;
  try {
    if (row.info_type === 'unauthorized') {
      // CreateTime is WeChat's clock, in whole seconds: the margin absorbs a skew with ours (nobody revokes
      // within seconds of authorizing, and a re-authorization after a revocation takes longer than that)
      const createTime = Number(row.payload.CreateTime);
      const revokedAt =
        createTime > 0 ? new Date((createTime + REVOCATION_CLOCK_MARGIN_S) * 1000) : undefined;
      if (appid && !(await markRevoked(deps, appid, revokedAt)))
        deps.log.info({ appid }, 'unauthorized event ignored: not authorized, or authorized again since');
      await settle(deps, row.id, null, true);
      return;
    }
    const sealed = row.payload.AuthorizationCodeSealed;
    if (!sealed) {
      await settle(deps, row.id, 'no AuthorizationCode in the event', true);
      return;
    }
    const link = await linkOfPreAuthCode(deps, row.payload.PreAuthCodeHash);
    await completeAuthorization(deps, { code: deps.secrets.decrypt(sealed), ...link, fromPush: true });
    await settle(deps, row.id, null, true);
  } catch (err) {
    // past AuthorizationCodeExpiredTime no retry can exchange the code (WeChat would answer 61010)
    const expiresAt = Number(row.payload.AuthorizationCodeExpiredTime);
    const codeExpired = expiresAt > 0 && deps.clock.now().getTime() >= expiresAt * 1000;
    const final = (err instanceof WeChatApiError && FINAL_CODE_ERRCODES.has(err.errcode)) || codeExpired;
    const reason = err instanceof Error ? err.message.slice(0, 500) : 'processing failed';
    const message = codeExpired ? `${reason}; the authorization code has expired: not retried` : reason;
    deps.log.warn({ err, appid, infoType: row.info_type, final }, 'component event processing failed');
    await settle(deps, row.id, message, final).catch(() => {});
  }
}

export async function processStoredEvent(deps: Deps, id: string): Promise<void> {
  const rows = await deps.db.query<EventRow>(
    'SELECT id, info_type, authorizer_appid, payload FROM component_events WHERE id = $1 AND processed_at IS NULL',
    [id],
  );
  if (rows[0]) await processComponentEvent(deps, rows[0]);
}

/** Events that arrived at least `minAgeMs` ago and are still unprocessed, oldest first, `limit` per run. */
export async function retryComponentEvents(deps: Deps, minAgeMs = 30_000, limit = 20): Promise<number> {
  const cutoff = new Date(deps.clock.now().getTime() - minAgeMs);
  const rows = await deps.db.query<EventRow>(
    `SELECT id, info_type, authorizer_appid, payload FROM component_events
     WHERE processed_at IS NULL AND received_at <= $1 ORDER BY received_at LIMIT $2`,
    [cutoff, limit],
  );
  for (const row of rows) await processComponentEvent(deps, row);
  return rows.length;
}
