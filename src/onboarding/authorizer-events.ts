import type { Query } from '../db/client.js';
import { enqueueEvents, type NewEvent } from '../delivery/outbox.js';
import { AUTHORIZER_COLUMNS, type AuthorizerRow, renderMiniProgram } from './authorizers.js';

// authorizer.* events (http-api.md §6) are enqueued in the transaction that changes the row, so an event exists
// exactly when its state change committed; callers run notifyDeliveries(deps) after the commit.

export type AuthorizerChange = 'authorizer.authorized' | 'authorizer.updated';

export function changeEvent(row: AuthorizerRow, type: AuthorizerChange): NewEvent[] {
  if (!row.tenant_id) return []; // release-test accounts and unlinked codes belong to no tenant
  return [{ tenantId: row.tenant_id, appid: row.appid, type, data: { ...renderMiniProgram(row) } }];
}

export function unauthorizedEvent(
  tenantId: string | null,
  appid: string,
  reason: 'revoked' | 'reassigned',
): NewEvent[] {
  if (!tenantId) return [];
  return [{ tenantId, appid, type: 'authorizer.unauthorized', data: { appid, reason } }];
}

export async function emit(q: Query, events: NewEvent[], now: Date): Promise<number> {
  if (events.length === 0) return 0;
  await enqueueEvents(q, events, now);
  return events.length;
}

export async function readAuthorizerRow(q: Query, appid: string): Promise<AuthorizerRow | null> {
  const rows = await q<AuthorizerRow>(`SELECT ${AUTHORIZER_COLUMNS} FROM authorizers WHERE appid = $1`, [
    appid,
  ]);
  return rows[0] ?? null;
}
