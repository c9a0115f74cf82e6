import type { Query } from '../db/client.js';
import type { Deps } from '../deps.js';

// component_verify_ticket (wechat-protocol.md §2.1): pushed every 10 minutes, valid 12 hours, no API reads
// it back, so the newest one lives in component_state (encrypted), written only if its CreateTime is newer.

/** Stores the ticket if it is newer (by CreateTime) than the stored one; the same value may repeat. */
export async function storeTicket(
  deps: Deps,
  ticket: string,
  createTime: number,
  q: Query = deps.db.query,
): Promise<boolean> {
  const now = deps.clock.now();
  const enc = deps.secrets.encrypt(ticket);
  const rows = await q(
    `INSERT INTO component_state (component_appid, ticket_enc, ticket_create_time, ticket_received_at, updated_at)
     VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (component_appid) DO UPDATE SET ticket_enc = EXCLUDED.ticket_enc,
       ticket_create_time = EXCLUDED.ticket_create_time, ticket_received_at = EXCLUDED.ticket_received_at,
       updated_at = EXCLUDED.updated_at
     WHERE component_state.ticket_create_time IS NULL OR component_state.ticket_create_time <= EXCLUDED.ticket_create_time
     RETURNING component_appid`,
    [deps.config.wechat.componentAppid, enc, createTime, now],
  );
  return rows.length > 0;
}

/** When the newest ticket arrived (null: never). */
export async function lastTicketReceivedAt(deps: Deps): Promise<Date | null> {
  const rows = await deps.db.query<{ ticket_received_at: Date | null }>(
    'SELECT ticket_received_at FROM component_state WHERE component_appid = $1',
    [deps.config.wechat.componentAppid],
  );
  return rows[0]?.ticket_received_at ?? null;
}

// Several triggers (a stale ticket on a token refresh, the watchdog) may fire together; one call per minute
// per process is plenty, WeChat pushes at once after it.
const lastStart = new WeakMap<Deps, number>();
/** when this process's last api_start_push_ticket was accepted (the ticket is due from then on) */
const lastAccepted = new WeakMap<Deps, number>();
const START_SPACING_MS = 60_000;

/** When WeChat last accepted this process's api_start_push_ticket (null: never). */
export function lastTicketRequestAt(deps: Deps): Date | null {
  const at = lastAccepted.get(deps);
  return at === undefined ? null : new Date(at);
}

/**
 * Asks WeChat to push a ticket now (api_start_push_ticket). Failure policy: logged and left to the next
 * trigger (the watchdog job runs every minute), never thrown, since callers are background paths.
 */
export async function startPushTicket(deps: Deps, reason: string): Promise<boolean> {
  const now = deps.clock.now().getTime();
  const last = lastStart.get(deps);
  if (last !== undefined && now - last < START_SPACING_MS && now >= last) return false;
  lastStart.set(deps, now);
  const { wechat } = deps.config;
  try {
    deps.log.warn({ reason }, 'starting component_verify_ticket push');
    await deps.wechat.startPushTicket(wechat.componentAppid, wechat.componentAppsecret);
    lastAccepted.set(deps, now);
    return true;
  } catch (err) {
    deps.log.error({ err, reason }, 'api_start_push_ticket failed');
    return false;
  }
}
