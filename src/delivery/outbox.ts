import type { Query } from '../db/client.js';
import type { Deps } from '../deps.js';
import { newId } from '../ids.js';

export type EventType =
  | 'message.received'
  | 'session.entered'
  | 'wechat.event'
  | 'authorizer.authorized'
  | 'authorizer.updated'
  | 'authorizer.unauthorized';

export const EVENT_TYPES: readonly EventType[] = [
  'message.received',
  'session.entered',
  'wechat.event',
  'authorizer.authorized',
  'authorizer.updated',
  'authorizer.unauthorized',
];

export interface NewEvent {
  /** an id made beforehand with newId('evt') (ingest writes it into the push row in the same statement) */
  id?: string;
  tenantId: string;
  appid: string;
  type: EventType;
  data: Record<string, unknown>;
}

/** The channel workers LISTEN on; a notification only means "look now", the rows are the truth. */
export const DELIVERIES_CHANNEL = 'kefu_deliveries';

// Arrays through unnest keep one prepared statement whatever the batch size (a VALUES list would be a new
// statement, and a new plan, for every size ingest's group commit happens to produce).
const INSERT_EVENTS = `INSERT INTO events (id, tenant_id, appid, type, data, created_at)
SELECT u.id, u.tenant_id, u.appid, u.type, u.data::jsonb, $6
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(id, tenant_id, appid, type, data)`;

// FOR KEY SHARE: an endpoint deleted between this read and the delivery INSERT would otherwise fail the
// foreign key, and with it the whole ingest transaction (the FK check takes this same lock anyway).
const MATCHING_ENDPOINTS = `SELECT id, tenant_id, event_types, appids FROM webhook_endpoints
WHERE tenant_id = ANY($1::text[]) AND enabled FOR KEY SHARE`;

const INSERT_DELIVERIES = `INSERT INTO deliveries
  (id, tenant_id, event_id, endpoint_id, status, attempt_count, next_attempt_at, created_at, updated_at)
SELECT u.id, u.tenant_id, u.event_id, u.endpoint_id, 'pending', 0, $5, $5, $5
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, tenant_id, event_id, endpoint_id)`;

export interface EndpointFilter {
  id: string;
  tenant_id: string;
  event_types: string[] | null;
  appids: string[] | null;
}

export function endpointMatches(
  ep: { event_types: string[] | null; appids: string[] | null },
  type: string,
  appid: string,
): boolean {
  return (
    (ep.event_types === null || ep.event_types.includes(type)) &&
    (ep.appids === null || ep.appids.includes(appid))
  );
}

/** Created events per type, counted when the transaction that made them is followed by notifyDeliveries. */
const uncounted = new Map<EventType, number>();

/**
 * In the caller's transaction: insert the events and one pending delivery (next_attempt_at = now) per enabled
 * endpoint of the tenant whose filters match (event_types null or contains type; appids null or contains
 * appid). Three prepared statements for a whole batch. Returns the event ids in input order and the number of
 * deliveries created.
 */
export async function enqueueEvents(
  q: Query,
  events: NewEvent[],
  now: Date,
): Promise<{ eventIds: string[]; deliveries: number }> {
  if (events.length === 0) return { eventIds: [], deliveries: 0 };
  const ms = now.getTime();
  const eventIds = events.map((e) => e.id ?? newId('evt', ms));
  await q(INSERT_EVENTS, [
    eventIds,
    events.map((e) => e.tenantId),
    events.map((e) => e.appid),
    events.map((e) => e.type),
    events.map((e) => JSON.stringify(e.data)),
    now,
  ]);

  const tenantIds = [...new Set(events.map((e) => e.tenantId))];
  const endpoints = await q<EndpointFilter>(MATCHING_ENDPOINTS, [tenantIds]);
  const deliveries = await enqueueDeliveries(q, events, eventIds, endpoints, now);
  return { eventIds, deliveries };
}

/** After the commit of a transaction that used enqueueDeliveries: counts its events in `eventsCreated`. */
function countCreatedEvents(deps: Deps): void {
  for (const [type, n] of uncounted) deps.metrics.eventsCreated.inc({ type }, n);
  uncounted.clear();
}

/** The second half of enqueueEvents: one pending delivery per matching endpoint. Returns how many. */
async function enqueueDeliveries(
  q: Query,
  events: readonly NewEvent[],
  eventIds: readonly string[],
  endpoints: readonly EndpointFilter[],
  now: Date,
): Promise<number> {
  const ms = now.getTime();
  const ids: string[] = [];
  const tenants: string[] = [];
  const eventRefs: string[] = [];
  const endpointRefs: string[] = [];
  if (endpoints.length > 0) {
    const byTenant = new Map<string, EndpointFilter[]>();
    for (const ep of endpoints) {
      const list = byTenant.get(ep.tenant_id);
      if (list) list.push(ep);
      else byTenant.set(ep.tenant_id, [ep]);
    }
    events.forEach((e, i) => {
      for (const ep of byTenant.get(e.tenantId) ?? []) {
        if (!endpointMatches(ep, e.type, e.appid)) continue;
        ids.push(newId('dlv', ms));
        tenants.push(e.tenantId);
        eventRefs.push(eventIds[i] as string);
        endpointRefs.push(ep.id);
      }
    });
    if (ids.length > 0) await q(INSERT_DELIVERIES, [ids, tenants, eventRefs, endpointRefs, now]);
  }
  for (const e of events) uncounted.set(e.type, (uncounted.get(e.type) ?? 0) + 1);
  return ids.length;
}

/**
 * After the transaction committed: wake workers (pg_notify 'kefu_deliveries'), fire-and-forget, errors logged
 * (polling picks the deliveries up anyway). Also counts the events created since the last call in
 * `eventsCreated`, so the metric follows commits rather than attempts.
 */
export function notifyDeliveries(deps: Deps): void {
  countCreatedEvents(deps);
  deps.db.notify(DELIVERIES_CHANNEL).catch((err: unknown) => {
    deps.log.warn({ err }, 'could not notify delivery workers');
  });
}

export interface EventRow {
  id: string;
  type: string;
  created_at: Date;
  appid: string;
  data: Record<string, unknown>;
}

export interface EventJson {
  id: string;
  type: string;
  createdAt: string;
  appid: string;
  data: Record<string, unknown>;
}

/** The §6 `Event`: the webhook body and the API representation (the same bytes on every retry and replay). */
export function renderEvent(row: EventRow): EventJson {
  return {
    id: row.id,
    type: row.type,
    createdAt: row.created_at.toISOString(),
    appid: row.appid,
    data: row.data,
  };
}

/**
 * The webhook body: renderEvent's JSON with `data` as PostgreSQL's text of the stored jsonb (the claim reads
 * it so), spliced in rather than parsed and serialized again for every attempt. jsonb's text is canonical,
 * so every retry and replay sends the same bytes.
 */
export function webhookBody(row: Omit<EventRow, 'data'>, dataJson: string): string {
  const head = `{"id":${JSON.stringify(row.id)},"type":${JSON.stringify(row.type)}`;
  return `${head},"createdAt":"${row.created_at.toISOString()}","appid":${JSON.stringify(row.appid)},"data":${dataJson}}`;
}
