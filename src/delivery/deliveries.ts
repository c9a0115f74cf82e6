import type { PageRequest } from '../api/pagination.js';
import type { RequestContext } from '../deps.js';
import { notFound } from '../errors.js';
import { notifyDeliveries } from './outbox.js';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

interface DeliveryRow {
  id: string;
  event_id: string;
  endpoint_id: string;
  status: DeliveryStatus;
  attempt_count: number;
  next_attempt_at: Date | null;
}

interface AttemptRow {
  delivery_id: string;
  at: Date;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
}

export interface AttemptView {
  at: string;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  endpointId: string;
  status: DeliveryStatus;
  attemptCount: number;
  nextAttemptAt: string | null;
  attempts: AttemptView[];
}

const COLUMNS = 'id, event_id, endpoint_id, status, attempt_count, next_attempt_at';

/** Rows with their attempts (oldest first), fetched in one query for the whole page. */
async function withAttempts(ctx: RequestContext, rows: DeliveryRow[]): Promise<DeliveryView[]> {
  if (rows.length === 0) return [];
  const attempts = await ctx.deps.db.query<AttemptRow>(
    `SELECT delivery_id, at, status_code, duration_ms, error, response_body FROM delivery_attempts
     WHERE delivery_id = ANY($1::text[]) ORDER BY at, id`,
    [rows.map((r) => r.id)],
  );
  const byDelivery = new Map<string, AttemptView[]>();
  for (const a of attempts) {
    const list = byDelivery.get(a.delivery_id) ?? [];
    list.push({
      at: a.at.toISOString(),
      statusCode: a.status_code,
      durationMs: a.duration_ms,
      error: a.error,
      responseBody: a.response_body,
    });
    byDelivery.set(a.delivery_id, list);
  }
  return rows.map((r) => ({
    id: r.id,
    eventId: r.event_id,
    endpointId: r.endpoint_id,
    status: r.status,
    attemptCount: r.attempt_count,
    nextAttemptAt: r.status === 'pending' && r.next_attempt_at ? r.next_attempt_at.toISOString() : null,
    attempts: byDelivery.get(r.id) ?? [],
  }));
}

export interface DeliveryFilter {
  eventId?: string | undefined;
  endpointId?: string | undefined;
  status?: DeliveryStatus | undefined;
}

/** A page of the tenant's deliveries, newest first, each with its attempts. */
export async function listDeliveries(
  ctx: RequestContext,
  filter: DeliveryFilter,
  page: PageRequest,
): Promise<{ rows: DeliveryRow[]; views: DeliveryView[] }> {
  const rows = await ctx.deps.db.query<DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries
     WHERE tenant_id = $1 AND ($2::text IS NULL OR event_id = $2) AND ($3::text IS NULL OR endpoint_id = $3)
       AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR id < $5)
     ORDER BY id DESC LIMIT $6`,
    [
      ctx.tenantId,
      filter.eventId ?? null,
      filter.endpointId ?? null,
      filter.status ?? null,
      page.before,
      page.limit + 1,
    ],
  );
  return { rows, views: await withAttempts(ctx, rows.slice(0, page.limit)) };
}

export async function getDelivery(ctx: RequestContext, id: string): Promise<DeliveryView> {
  const rows = await ctx.deps.db.query<DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries WHERE id = $1 AND tenant_id = $2`,
    [id, ctx.tenantId],
  );
  if (rows.length === 0) throw notFound('Delivery');
  return (await withAttempts(ctx, rows))[0]!;
}

/**
 * One more attempt now, whatever the status: pending, due now, lease dropped (an attempt in flight elsewhere
 * keeps its attempt row but can no longer move the delivery). The worker counts it as the next attempt; if
 * that one fails past the schedule the delivery is `failed` again.
 */
export async function retryDelivery(ctx: RequestContext, id: string): Promise<DeliveryView> {
  const now = ctx.deps.clock.now();
  const rows = await ctx.deps.db.query(
    `UPDATE deliveries SET status = 'pending', next_attempt_at = $3, lease_until = NULL, lease_token = NULL,
       updated_at = $3
     WHERE id = $1 AND tenant_id = $2 RETURNING id`,
    [id, ctx.tenantId, now],
  );
  if (rows.length === 0) throw notFound('Delivery');
  notifyDeliveries(ctx.deps);
  ctx.log.info({ deliveryId: id }, 'delivery retry requested');
  return getDelivery(ctx, id);
}
