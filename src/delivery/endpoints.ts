import type { PageRequest } from '../api/pagination.js';
import type { RequestContext } from '../deps.js';
import { notFound, validationFailed } from '../errors.js';
import { newId } from '../ids.js';
import { type EventType, notifyDeliveries } from './outbox.js';
import { failPendingDeliveries } from './queue.js';
import { generateSecret } from './signing.js';
import { type Resolver, webhookUrlProblem } from './url-policy.js';

/** How long a rotated-out secret keeps signing next to the new one. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

export interface EndpointRow {
  id: string;
  tenant_id: string;
  url: string;
  description: string;
  event_types: string[] | null;
  appids: string[] | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface EndpointView {
  id: string;
  url: string;
  description: string;
  eventTypes: string[] | null;
  appids: string[] | null;
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export const renderEndpoint = (r: EndpointRow): EndpointView => ({
  id: r.id,
  url: r.url,
  description: r.description,
  eventTypes: r.event_types,
  appids: r.appids,
  enabled: r.enabled,
  disabledReason: r.disabled_reason,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const COLUMNS =
  'id, tenant_id, url, description, event_types, appids, enabled, disabled_reason, created_at, updated_at';

/** The URL rules of §4, as a 422 naming the `url` field. */
async function checkUrl(ctx: RequestContext, url: string, resolve?: Resolver): Promise<void> {
  const problem = await webhookUrlProblem(url, ctx.deps.config.webhookAllowPrivateNetworks, resolve);
  if (problem) throw validationFailed([{ path: 'url', message: problem }], 'The webhook URL is not allowed');
}

const uniq = <T>(xs: T[] | null | undefined): T[] | null => (xs ? [...new Set(xs)] : null);

export interface CreateEndpointInput {
  url: string;
  description?: string | undefined;
  eventTypes?: EventType[] | null | undefined;
  appids?: string[] | null | undefined;
}

export async function createEndpoint(
  ctx: RequestContext,
  input: CreateEndpointInput,
  resolve?: Resolver,
): Promise<EndpointView & { secret: string }> {
  await checkUrl(ctx, input.url, resolve);
  const now = ctx.deps.clock.now();
  const secret = generateSecret();
  const [row] = await ctx.deps.db.query<EndpointRow>(
    `INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, appids, enabled, secret_enc,
       created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5::text[], $6::text[], true, $7, $8, $8) RETURNING ${COLUMNS}`,
    [
      newId('wep', now.getTime()),
      ctx.tenantId,
      input.url,
      input.description ?? '',
      uniq(input.eventTypes),
      uniq(input.appids),
      ctx.deps.secrets.encrypt(secret),
      now,
    ],
  );
  ctx.log.info({ endpointId: row!.id }, 'webhook endpoint created');
  return { ...renderEndpoint(row!), secret };
}

export async function listEndpoints(ctx: RequestContext, page: PageRequest): Promise<EndpointRow[]> {
  return ctx.deps.db.query<EndpointRow>(
    `SELECT ${COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND ($2::text IS NULL OR id < $2)
     ORDER BY id DESC LIMIT $3`,
    [ctx.tenantId, page.before, page.limit + 1],
  );
}

export async function getEndpoint(ctx: RequestContext, id: string): Promise<EndpointRow> {
  const [row] = await ctx.deps.db.query<EndpointRow>(
    `SELECT ${COLUMNS} FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2`,
    [id, ctx.tenantId],
  );
  if (!row) throw notFound('Webhook endpoint');
  return row;
}

export interface UpdateEndpointInput {
  url?: string | undefined;
  description?: string | undefined;
  eventTypes?: EventType[] | null | undefined;
  appids?: string[] | null | undefined;
  enabled?: boolean | undefined;
}

/**
 * Changes what is given. Re-enabling clears `disabledReason` and the failing run, so the health check starts
 * afresh; disabling (by hand) fails the endpoint's pending deliveries, as the automatic disable does.
 */
export async function updateEndpoint(
  ctx: RequestContext,
  id: string,
  input: UpdateEndpointInput,
  resolve?: Resolver,
): Promise<EndpointView> {
  if (input.url !== undefined) await checkUrl(ctx, input.url, resolve);
  const now = ctx.deps.clock.now();
  const row = await ctx.deps.db.transaction(async (q) => {
    const [updated] = await q<EndpointRow>(
      `UPDATE webhook_endpoints SET
         url = CASE WHEN $3::boolean THEN $4 ELSE url END,
         description = CASE WHEN $5::boolean THEN $6 ELSE description END,
         event_types = CASE WHEN $7::boolean THEN $8::text[] ELSE event_types END,
         appids = CASE WHEN $9::boolean THEN $10::text[] ELSE appids END,
         enabled = COALESCE($11::boolean, enabled),
         disabled_reason = CASE WHEN $11::boolean AND NOT enabled THEN NULL ELSE disabled_reason END,
         failing_since = CASE WHEN $11::boolean AND NOT enabled THEN NULL ELSE failing_since END,
         updated_at = $12
       WHERE id = $1 AND tenant_id = $2 RETURNING ${COLUMNS}`,
      [
        id,
        ctx.tenantId,
        input.url !== undefined,
        input.url ?? '',
        input.description !== undefined,
        input.description ?? '',
        input.eventTypes !== undefined,
        uniq(input.eventTypes),
        input.appids !== undefined,
        uniq(input.appids),
        input.enabled ?? null,
        now,
      ],
    );
    if (!updated) throw notFound('Webhook endpoint');
    if (input.enabled === false) await failPendingDeliveries(q, id, now);
    return updated;
  });
  return renderEndpoint(row);
}

export async function deleteEndpoint(ctx: RequestContext, id: string): Promise<void> {
  const rows = await ctx.deps.db.query(
    'DELETE FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2 RETURNING id',
    [id, ctx.tenantId],
  );
  if (rows.length === 0) throw notFound('Webhook endpoint');
  ctx.log.info({ endpointId: id }, 'webhook endpoint deleted');
}

/** Secrets rotated away that keep signing at once (a sixth rotation within 24 h retires the oldest early). */
const MAX_PREVIOUS_SECRETS = 5;

// The current secret joins the front of previous_secrets with its 24 h; expired ones leave the list. The
// single previous_secret_* columns keep the newest for the version before (see the schema).
const ROTATE = `UPDATE webhook_endpoints SET
  previous_secrets = jsonb_build_array(jsonb_build_object('secretEnc', secret_enc, 'expiresAt', $6::text))
    || COALESCE((SELECT jsonb_agg(p.s ORDER BY p.i) FROM jsonb_array_elements(previous_secrets)
        WITH ORDINALITY AS p(s, i)
      WHERE (p.s->>'expiresAt')::timestamptz > $5 AND p.i < ${MAX_PREVIOUS_SECRETS}), '[]'::jsonb),
  previous_secret_enc = secret_enc, previous_secret_expires_at = $3, secret_enc = $4, updated_at = $5
WHERE id = $1 AND tenant_id = $2 RETURNING id`;

/** A new secret; the current one keeps signing alongside for 24 h, as do those rotated away before it. */
export async function rotateEndpointSecret(ctx: RequestContext, id: string): Promise<{ secret: string }> {
  const now = ctx.deps.clock.now();
  const secret = generateSecret();
  const expires = new Date(now.getTime() + ROTATION_OVERLAP_MS);
  const rows = await ctx.deps.db.query(ROTATE, [
    id,
    ctx.tenantId,
    expires,
    ctx.deps.secrets.encrypt(secret),
    now,
    expires.toISOString(),
  ]);
  if (rows.length === 0) throw notFound('Webhook endpoint');
  ctx.log.info({ endpointId: id }, 'webhook endpoint secret rotated');
  return { secret };
}

export interface ReplayInput {
  since: Date;
  until?: Date | undefined;
  onlyFailed?: boolean | undefined;
}

const REPLAY_PAGE = 1_000;

// The endpoint's current filter decides; with onlyFailed, an event is taken unless some delivery of it to this
// endpoint succeeded or is still pending (so a replay never doubles one that is under way).
const REPLAY_CANDIDATES = `SELECT e.id FROM events e
WHERE e.tenant_id = $1 AND e.created_at >= $2 AND ($3::timestamptz IS NULL OR e.created_at < $3)
  AND ($4::text[] IS NULL OR e.type = ANY($4::text[]))
  AND ($5::text[] IS NULL OR e.appid = ANY($5::text[]))
  AND ($6::text IS NULL OR e.id > $6)
  AND (NOT $7::boolean OR NOT EXISTS (
    SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.endpoint_id = $8 AND d.status IN ('succeeded', 'pending')))
ORDER BY e.id LIMIT $9`;

const INSERT_REPLAYS = `INSERT INTO deliveries
  (id, tenant_id, event_id, endpoint_id, status, attempt_count, next_attempt_at, created_at, updated_at)
SELECT u.id, $2, u.event_id, $3, 'pending', 0, $4, $4, $4
FROM unnest($1::text[], $5::text[]) AS u(id, event_id)`;

/** New deliveries to this endpoint for its tenant's matching events in [since, until). */
export async function replayEndpoint(
  ctx: RequestContext,
  id: string,
  input: ReplayInput,
): Promise<{ enqueued: number }> {
  const ep = await ctx.deps.db.query<EndpointRow>(
    `SELECT ${COLUMNS} FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2`,
    [id, ctx.tenantId],
  );
  const endpoint = ep[0];
  if (!endpoint) throw notFound('Webhook endpoint');
  if (!endpoint.enabled)
    throw validationFailed(
      [{ path: '', message: 'the endpoint is disabled' }],
      'Enable the endpoint before replaying to it',
    );
  if (input.until && input.until <= input.since)
    throw validationFailed([{ path: 'until', message: 'must be later than since' }]);
  const onlyFailed = input.onlyFailed ?? true;
  const now = ctx.deps.clock.now();
  let enqueued = 0;
  let after: string | null = null;
  // In pages, each its own transaction: a replay of months must not hold one huge transaction open.
  for (;;) {
    const page = await ctx.deps.db.transaction(async (q) => {
      const events = await q<{ id: string }>(REPLAY_CANDIDATES, [
        ctx.tenantId,
        input.since,
        input.until ?? null,
        endpoint.event_types,
        endpoint.appids,
        after,
        onlyFailed,
        id,
        REPLAY_PAGE,
      ]);
      if (events.length > 0) {
        const ids = events.map(() => newId('dlv', now.getTime()));
        await q(INSERT_REPLAYS, [ids, ctx.tenantId, id, now, events.map((e) => e.id)]);
      }
      return events;
    });
    enqueued += page.length;
    if (page.length > 0) notifyDeliveries(ctx.deps);
    if (page.length < REPLAY_PAGE) break;
    after = page[page.length - 1]!.id;
  }
  ctx.log.info({ endpointId: id, enqueued }, 'webhook endpoint replay enqueued');
  return { enqueued };
}
