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
  taken: number;
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
  returning 1
)
select a.tenant_id, a.status, a.permissions, (select count(*) from taken)::int as taken from a`;

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
 * Returns whether the allowance was taken (always false when not asked).
 */
export async function openSend(
  q: Query,
  input: { tenantId: string; appid: string; openid: string; now: Date; takeAllowance: boolean },
): Promise<{ taken: boolean }> {
  const rows = await q<GateRow>(OPEN_SEND, [
    input.appid,
    input.tenantId,
    input.openid,
    input.now,
    input.takeAllowance,
  ]);
  check(rows[0], input.tenantId, input.appid);
  return { taken: (rows[0]?.taken ?? 0) > 0 };
}

/** The same checks without the allowance (typing, media). */
export async function requireSendable(q: Query, tenantId: string, appid: string): Promise<void> {
  const rows = await q<GateRow>(
    'select tenant_id, status, permissions, 0 as taken from authorizers where appid = $1',
    [appid],
  );
  check(rows[0], tenantId, appid);
}

/** Ownership only (reading a conversation needs no authorization state). */
export async function requireOwned(q: Query, tenantId: string, appid: string): Promise<void> {
  const rows = await q('select 1 from authorizers where appid = $1 and tenant_id = $2', [appid, tenantId]);
  if (rows.length === 0) throw notFound(`Mini-program ${appid}`);
}
