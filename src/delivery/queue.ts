import type { Query } from '../db/client.js';

/**
 * The deliveries queue in SQL: claim under a lease, record each attempt's outcome (matching the lease token, so a
 * stale worker cannot touch a reclaimed job), endpoint health, and the figures for the queue metrics. Every
 * statement is prepared and does its whole step in one round trip.
 */

export interface ClaimedJob {
  id: string;
  /** this attempt's number (1 = the first) */
  attempt: number;
  event_id: string;
  type: string;
  appid: string;
  created_at: Date;
  data: Record<string, unknown>;
  endpoint_id: string;
  url: string;
  enabled: boolean;
  secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_expires_at: Date | null;
}

// `head` reads the first due rows nobody holds (never leased, or whose lease ran out: a dead instance's job
// comes back here, no separate reaper), in time order and bounded, so a claim costs the same whatever the
// backlog. `picked` keeps at most `cap - busy` per endpoint, so one endpoint with a backlog (or one that hangs)
// never takes every slot: other endpoints' rows within the head are claimed in the same statement. `locked`
// then takes the picked rows that no concurrent claim holds (SKIP LOCKED) and re-checks them under the lock.
const CLAIM = `WITH head AS (
    SELECT id, endpoint_id, next_attempt_at FROM deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
    ORDER BY next_attempt_at
    LIMIT $5),
  ranked AS (
    SELECT h.id, h.next_attempt_at,
      row_number() OVER (PARTITION BY h.endpoint_id ORDER BY h.next_attempt_at, h.id) + COALESCE(b.n, 0) AS slot
    FROM head h LEFT JOIN unnest($6::text[], $7::int[]) AS b(endpoint_id, n) ON b.endpoint_id = h.endpoint_id),
  picked AS (
    SELECT id FROM ranked WHERE slot <= $8 ORDER BY next_attempt_at LIMIT $4),
  locked AS (
    SELECT id FROM deliveries
    WHERE id IN (SELECT id FROM picked) AND status = 'pending' AND (lease_until IS NULL OR lease_until < $1)
    FOR UPDATE SKIP LOCKED)
UPDATE deliveries d
SET lease_until = $2, lease_token = $3, attempt_count = d.attempt_count + 1, updated_at = $1
FROM events e, webhook_endpoints w
WHERE d.id IN (SELECT id FROM locked) AND e.id = d.event_id AND w.id = d.endpoint_id
RETURNING d.id, d.attempt_count AS attempt, d.event_id, e.type, e.appid, e.created_at, e.data, d.endpoint_id,
  w.url, w.enabled, w.secret_enc, w.previous_secret_enc, w.previous_secret_expires_at`;

/** How many due rows one claim looks at: other endpoints' work hides behind at most this much of one backlog. */
export const CLAIM_HEAD_ROWS = 1_000;

export interface ClaimOptions {
  now: Date;
  leaseUntil: Date;
  token: string;
  limit: number;
  /** most jobs one endpoint may have in flight at this worker */
  perEndpointCap?: number;
  /** jobs this worker already has in flight, per endpoint */
  busy?: ReadonlyMap<string, number>;
}

export async function claimDue(q: Query, opts: ClaimOptions): Promise<ClaimedJob[]> {
  const busy = [...(opts.busy ?? new Map<string, number>())];
  return q<ClaimedJob>(CLAIM, [
    opts.now,
    opts.leaseUntil,
    opts.token,
    opts.limit,
    Math.max(CLAIM_HEAD_ROWS, opts.limit * 4),
    busy.map(([id]) => id),
    busy.map(([, n]) => n),
    opts.perEndpointCap ?? opts.limit,
  ]);
}

export interface AttemptOutcome {
  deliveryId: string;
  token: string;
  endpointId: string;
  attemptId: string;
  attempt: number;
  at: Date;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
  /** the delivery's state after this attempt */
  status: 'succeeded' | 'pending' | 'failed';
  nextAttemptAt: Date | null;
  now: Date;
  /** what the attempt says about the endpoint's health; null when nothing was sent */
  health: 'success' | 'failure' | null;
}

// The attempt row is a fact whatever happened to the lease (the request was made), so it is written even when
// a stale worker's state change is refused; the endpoint's failing_since follows the same facts. A retry for an
// endpoint disabled meanwhile becomes `failed` (the disable could not touch a row leased at the time).
const RECORD = `WITH done AS (
    UPDATE deliveries SET
      status = CASE WHEN $3::text = 'pending' AND NOT (SELECT enabled FROM webhook_endpoints WHERE id = $14)
        THEN 'failed' ELSE $3::text END,
      next_attempt_at = CASE WHEN $3::text = 'pending' AND NOT (SELECT enabled FROM webhook_endpoints WHERE id = $14)
        THEN NULL ELSE $4::timestamptz END,
      lease_until = NULL, lease_token = NULL, updated_at = $5
    WHERE id = $1 AND lease_token = $2
    RETURNING id),
  att AS (
    INSERT INTO delivery_attempts (id, delivery_id, attempt, at, status_code, duration_ms, error, response_body)
    SELECT $6, d.id, $7, $8, $9, $10, $11, $12 FROM deliveries d WHERE d.id = $1
    RETURNING id),
  ok AS (
    UPDATE webhook_endpoints SET failing_since = NULL
    WHERE $13::text = 'success' AND id = $14 AND failing_since IS NOT NULL
    RETURNING id),
  bad AS (
    UPDATE webhook_endpoints SET failing_since = $8
    WHERE $13::text = 'failure' AND id = $14 AND failing_since IS NULL
    RETURNING id)
SELECT (SELECT count(*) FROM done)::int AS applied,
  (SELECT failing_since FROM webhook_endpoints WHERE id = $14 AND $13::text = 'failure') AS failing_since`;

/**
 * Writes the attempt row and moves the delivery on, if the lease is still this worker's. Returns whether the
 * delivery changed, and for a failure the start of the endpoint's failing run as it was before this attempt
 * (null when this attempt starts the run).
 */
export async function recordAttempt(
  q: Query,
  o: AttemptOutcome,
): Promise<{ applied: boolean; failingSince: Date | null }> {
  const [row] = await q<{ applied: number; failing_since: Date | null }>(RECORD, [
    o.deliveryId,
    o.token,
    o.status,
    o.nextAttemptAt,
    o.now,
    o.attemptId,
    o.attempt,
    o.at,
    o.statusCode,
    o.durationMs,
    o.error,
    o.responseBody,
    o.health ?? 'none',
    o.endpointId,
  ]);
  return { applied: (row?.applied ?? 0) > 0, failingSince: row?.failing_since ?? null };
}

// Pending deliveries of a disabled endpoint are failed rather than left waiting: left pending they would sit in
// front of every claim's index scan for as long as the endpoint stays off. A replay (onlyFailed) after
// re-enabling sends them again. Rows leased right now are left to their worker; the claim fails them next time.
const FAIL_PENDING = `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = $2
WHERE endpoint_id = $1 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2)`;

export async function failPendingDeliveries(q: Query, endpointId: string, now: Date): Promise<void> {
  await q(FAIL_PENDING, [endpointId, now]);
}

const DISABLE = `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3
WHERE id = $1 AND enabled AND failing_since IS NOT NULL AND failing_since <= $4
RETURNING id`;

/** Disables the endpoint if it is still enabled and still failing since `failingBefore` or earlier. */
export async function disableFailingEndpoint(
  q: Query,
  opts: { endpointId: string; reason: string; now: Date; failingBefore: Date },
): Promise<boolean> {
  const rows = await q(DISABLE, [opts.endpointId, opts.reason, opts.now, opts.failingBefore]);
  if (rows.length === 0) return false;
  await failPendingDeliveries(q, opts.endpointId, opts.now);
  return true;
}

const STATS = `SELECT count(*)::int AS depth, min(next_attempt_at) AS oldest
FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1`;

/** Due pending deliveries and the oldest due time (the partial due index answers it). */
export async function queueStats(q: Query, now: Date): Promise<{ depth: number; oldestDueAt: Date | null }> {
  const [row] = await q<{ depth: number; oldest: Date | null }>(STATS, [now]);
  return { depth: row?.depth ?? 0, oldestDueAt: row?.oldest ?? null };
}
