import type { PageRequest } from '../api/pagination.js';
import type { RequestContext } from '../deps.js';
import { notFound } from '../errors.js';
import { type EventJson, type EventRow, renderEvent } from './outbox.js';

export interface EventFilter {
  appid?: string | undefined;
  type?: string | undefined;
}

/** The tenant's events, newest first (ids sort by creation time). */
export async function listEvents(
  ctx: RequestContext,
  filter: EventFilter,
  page: PageRequest,
): Promise<EventRow[]> {
  return ctx.deps.db.query<EventRow>(
    `SELECT id, type, created_at, appid, data FROM events
     WHERE tenant_id = $1 AND ($2::text IS NULL OR appid = $2) AND ($3::text IS NULL OR type = $3)
       AND ($4::text IS NULL OR id < $4)
     ORDER BY id DESC LIMIT $5`,
    [ctx.tenantId, filter.appid ?? null, filter.type ?? null, page.before, page.limit + 1],
  );
}

export interface DeliverySummary {
  id: string;
  endpointId: string;
  status: 'pending' | 'succeeded' | 'failed';
  attemptCount: number;
}

/** One event with a summary of its deliveries (oldest first: the original ones, then replays). */
export async function getEvent(
  ctx: RequestContext,
  id: string,
): Promise<EventJson & { deliveries: DeliverySummary[] }> {
  const [row] = await ctx.deps.db.query<EventRow>(
    'SELECT id, type, created_at, appid, data FROM events WHERE id = $1 AND tenant_id = $2',
    [id, ctx.tenantId],
  );
  if (!row) throw notFound('Event');
  const deliveries = await ctx.deps.db.query<{
    id: string;
    endpoint_id: string;
    status: DeliverySummary['status'];
    attempt_count: number;
  }>(
    'SELECT id, endpoint_id, status, attempt_count FROM deliveries WHERE event_id = $1 AND tenant_id = $2 ORDER BY id',
    [id, ctx.tenantId],
  );
  return {
    ...renderEvent(row),
    deliveries: deliveries.map((d) => ({
      id: d.id,
      endpointId: d.endpoint_id,
      status: d.status,
      attemptCount: d.attempt_count,
    })),
  };
}
