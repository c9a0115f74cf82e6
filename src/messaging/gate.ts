import type { Query } from '../db/client.js';
import { AppError, notFound } from '../errors.js';
import { CUSTOMER_SERVICE_PERMISSION } from '../onboarding/authorizers.js';

/*
 * Who may act for a mini-program, checked before any WeChat call: the owning tenant (anyone else gets 404,
 * never a hint that the appid exists), an authorized status, and permission set 19.
 */

interface GateRow {
  tenant_id: string | null;
  status: string;
  permissions: number[] | null;
  /** the allowance before the take, and the window's deadline then; null: nothing taken */
  taken_from: number | null;
  taken_deadline: Date | null;
}

/** A message taken from a send window: what the allowance and the deadline were (to give it back exactly). */
export interface TakenAllowance {
  remainingBefore: number;
  deadline: Date;
}

/*
 * One round trip for the send path: the authorizer row and, when the window is enforced, the allowance taken
 * by the conditional UPDATE (only if the authorizer passes, so a refused send never spends it). Two sends
 * racing for the last message serialise on the conversation row; the second finds remaining = 0.
 */
const OPEN_SEND = `
with a as (
  select tenant_id, status, permissions from authorizers where appid = $1
), taken as (
  update conversations c set remaining = c.remaining - 1, updated_at = $4
  where $5::boolean and c.appid = $1 and c.openid = $3 and c.deadline > $4 and c.remaining > 0
    and exists (
      select 1 from a where a.tenant_id = $2 and a.status = 'authorized' and ${CUSTOMER_SERVICE_PERMISSION} = any(a.permissions)
    )
  returning c.remaining + 1 as taken_from, c.deadline as taken_deadline
)
select a.tenant_id, a.status, a.permissions, (select taken_from from taken) as taken_from,
  (select taken_deadline from taken) as taken_deadline
from a`;

function check(row: GateRow | undefined, tenantId: string, appid: string): void {
  if (!row || row.tenant_id !== tenantId) throw notFound(`Mini-program ${appid}`);
  if (row.status !== 'authorized') {
    throw new AppError(
      'mini_program_unauthorized',
      row.status === 'reauthorization_required'
        ? 'WeChat rejected the refresh token; the mini-program must authorize kefu-relay again'
        : 'The mini-program is not (or no longer) authorized to kefu-relay',
    );
  }
  if (!(row.permissions ?? []).includes(CUSTOMER_SERVICE_PERMISSION)) {
    throw new AppError(
      'permission_missing',
      'The mini-program did not grant permission set 19 (customer-service messages) to kefu-relay',
    );
  }
}

/**
 * Checks the authorizer and, when `takeAllowance`, takes one message of the send window in the same statement.
 * Returns what was taken, or null (always null when not asked).
 */
export async function openSend(
  q: Query,
  input: { tenantId: string; appid: string; openid: string; now: Date; takeAllowance: boolean },
): Promise<{ taken: TakenAllowance | null }> {
  const rows = await q<GateRow>(OPEN_SEND, [
    input.appid,
    input.tenantId,
    input.openid,
    input.now,
    input.takeAllowance,
  ]);
  const row = rows[0];
  check(row, input.tenantId, input.appid);
  return {
    taken:
      row?.taken_from != null && row.taken_deadline
        ? { remainingBefore: Number(row.taken_from), deadline: row.taken_deadline }
        : null,
  };
}

/** The same checks without the allowance (typing, media). */
export async function requireSendable(q: Query, tenantId: string, appid: string): Promise<void> {
  const rows = await q<GateRow>(
    'select tenant_id, status, permissions, null as taken_from, null as taken_deadline from authorizers where appid = $1',
    [appid],
  );
  check(rows[0], tenantId, appid);
}

/** Ownership only (reading a conversation needs no authorization state). */
export async function requireOwned(q: Query, tenantId: string, appid: string): Promise<void> {
  const rows = await q('select 1 from authorizers where appid = $1 and tenant_id = $2', [appid, tenantId]);
  if (rows.length === 0) throw notFound(`Mini-program ${appid}`);
}
