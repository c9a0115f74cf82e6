import type { Query } from '../db/client.js';
import { newId } from '../ids.js';

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
  /** the event's data as JSON text (webhookBody splices it in) */
  data_json: string;
  endpoint_id: string;
  url: string;
  enabled: boolean;
  secret_enc: string;
  /** secrets rotated away, newest first, each signing until its expiresAt (ISO 8601) */
  previous_secrets: { secretEnc: string; expiresAt: string }[];
  /** the per-endpoint cap this claim applied (see ClaimOptions.slots) */
  cap: number;
}

// A claim walks the pending index per endpoint, so it costs what it claims, whatever the backlog, and no
// endpoint's backlog hides another's work. The endpoints come from the caller (those it knows have due work:
// named by NOTIFY, or left behind by its last claim) and, when `discover` is set (polling, start), from a skip
// scan of the index (one probe per endpoint with pending rows). Each endpoint gives at most `cap - busy` of its
// due rows nobody holds (never leased, or whose lease ran out: a dead instance's job comes back here, no
// separate reaper), oldest first; the oldest `limit` of those are taken, under the lock, re-checked, skipping
// rows a concurrent claim holds. A job taken back from a lease that ran out had an attempt that never recorded
// its outcome (the worker died or stalled mid-request): `lost` records it, so `attemptCount` and the attempts
// agree, from the lost claim's time (updated_at; renewals leave it) for as long as its lease held. Its id is
// this claim's time part and a digest of (delivery, lost lease token).
const CLAIM = `WITH RECURSIVE discovered AS (
    (SELECT endpoint_id FROM deliveries WHERE $9::boolean AND status = 'pending' ORDER BY endpoint_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.endpoint_id FROM deliveries d
      WHERE d.status = 'pending' AND d.endpoint_id > s.endpoint_id ORDER BY d.endpoint_id LIMIT 1)
    FROM discovered s WHERE s.endpoint_id IS NOT NULL),
  targets AS (
    SELECT endpoint_id FROM discovered WHERE endpoint_id IS NOT NULL
    UNION SELECT unnest($5::text[])),
  active AS (
    SELECT endpoint_id FROM targets UNION SELECT unnest($6::text[])),
  cap AS (
    SELECT GREATEST(1, LEAST($8::int, $10::int / ((SELECT count(*) FROM active)::int + 1))) AS n),
  room AS (
    SELECT t.endpoint_id, (SELECT n FROM cap) - COALESCE(b.n, 0) AS n
    FROM targets t LEFT JOIN unnest($6::text[], $7::int[]) AS b(endpoint_id, n) ON b.endpoint_id = t.endpoint_id
    WHERE (SELECT n FROM cap) - COALESCE(b.n, 0) > 0),
  candidates AS (
    SELECT c.id, c.next_attempt_at FROM room r CROSS JOIN LATERAL (
      SELECT d.id, d.next_attempt_at FROM deliveries d
      WHERE d.endpoint_id = r.endpoint_id AND d.status = 'pending' AND d.next_attempt_at <= $1
        AND (d.lease_until IS NULL OR d.lease_until < $1)
      ORDER BY d.next_attempt_at LIMIT r.n) c),
  picked AS (
    SELECT id FROM candidates ORDER BY next_attempt_at LIMIT $4),
  locked AS (
    SELECT id FROM deliveries
    WHERE id IN (SELECT id FROM picked) AND status = 'pending' AND (lease_until IS NULL OR lease_until < $1)
    FOR UPDATE SKIP LOCKED),
  lost AS (
    INSERT INTO delivery_attempts (id, delivery_id, attempt, at, status_code, duration_ms, error, response_body)
    SELECT $11::text || upper(substr(md5(d.id || ':' || COALESCE(d.lease_token, '')), 1, 16)), d.id,
      d.attempt_count, d.updated_at, NULL,
      GREATEST(0, floor(extract(epoch FROM d.lease_until - d.updated_at) * 1000))::int,
      'no outcome recorded: the worker making this attempt did not finish it within its lease (it stopped, ' ||
        'or is late); the webhook may have arrived', NULL
    FROM deliveries d
    WHERE d.id IN (SELECT id FROM locked) AND d.lease_until IS NOT NULL AND d.attempt_count > 0
      AND NOT EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.attempt = d.attempt_count))
UPDATE deliveries d
SET lease_until = $2, lease_token = $3, attempt_count = d.attempt_count + 1, updated_at = $1
FROM events e, webhook_endpoints w
WHERE d.id IN (SELECT id FROM locked) AND e.id = d.event_id AND w.id = d.endpoint_id
RETURNING d.id, d.attempt_count AS attempt, d.event_id, e.type, e.appid, e.created_at,
  e.data::text AS data_json, d.endpoint_id,
  w.url, w.enabled, w.secret_enc, w.previous_secrets, (SELECT n FROM cap) AS cap`;

export interface ClaimOptions {
  now: Date;
  leaseUntil: Date;
  token: string;
  limit: number;
  /** endpoints to claim for (known to have due rows) */
  endpoints?: Iterable<string>;
  /** also find every endpoint with pending rows (default: only when no endpoints are given) */
  discover?: boolean;
  /** most jobs one endpoint may have in flight at this worker */
  perEndpointCap?: number;
  /**
   * the worker's slots: with k endpoints busy or with work, each may hold at most slots/(k+1) (and at most
   * perEndpointCap), so however many endpoints hang, one more always finds room
   */
  slots?: number;
  /** jobs this worker already has in flight, per endpoint */
  busy?: ReadonlyMap<string, number>;
}

export async function claimDue(q: Query, opts: ClaimOptions): Promise<ClaimedJob[]> {
  const busy = [...(opts.busy ?? new Map<string, number>())];
  const endpoints = [...(opts.endpoints ?? [])];
  return q<ClaimedJob>(CLAIM, [
    opts.now,
    opts.leaseUntil,
    opts.token,
    opts.limit,
    endpoints,
    busy.map(([id]) => id),
    busy.map(([, n]) => n),
    opts.perEndpointCap ?? opts.limit,
    opts.discover ?? endpoints.length === 0,
    opts.slots ?? 2 ** 31 - 1,
    // the time part of an attempt id (att_ and 10 characters): lost attempts complete it with a digest
    newId('att', opts.now.getTime()).slice(0, 14),
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
// a stale worker's state change is refused; it replaces the placeholder the claim that took the job back wrote
// for the same attempt (`placeholder`: the worker was late, not dead; only an outcome whose lease was taken
// back, so `done` refused it, can have one, and only those are looked up). The endpoint's failing_since follows the
// same facts. A retry for an
// endpoint disabled meanwhile becomes `failed` (the disable could not touch a row leased at the time).
// Many outcomes go in one statement (one commit), as arrays: per-attempt statements cost a commit each and
// queued behind the pool. Within one batch an endpoint's health follows its latest success: no success means
// the failing run goes on (or starts at its first failure); after the latest success, it starts again at the
// first failure later than it, if any. `failing_since` is returned as it was before the batch.
const RECORD = `WITH i AS (
    SELECT u.delivery_id, u.token, u.status, u.next_attempt_at::timestamptz AS next_attempt_at,
      u.now::timestamptz AS now, u.attempt_id, u.attempt::int AS attempt, u.at::timestamptz AS at,
      u.status_code::int AS status_code, u.duration_ms::int AS duration_ms, u.error, u.response_body, u.health,
      u.endpoint_id
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
      $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
      AS u(delivery_id, token, status, next_attempt_at, now, attempt_id, attempt, at, status_code, duration_ms,
        error, response_body, health, endpoint_id)),
  done AS (
    UPDATE deliveries d SET
      status = CASE WHEN i.status = 'pending' AND NOT COALESCE(w.enabled, true) THEN 'failed' ELSE i.status END,
      next_attempt_at = CASE WHEN i.status = 'pending' AND NOT COALESCE(w.enabled, true)
        THEN NULL ELSE i.next_attempt_at END,
      lease_until = NULL, lease_token = NULL, updated_at = i.now
    FROM i LEFT JOIN webhook_endpoints w ON w.id = i.endpoint_id
    WHERE d.id = i.delivery_id AND d.lease_token = i.token
    RETURNING d.id),
  placeholder AS (
    DELETE FROM delivery_attempts a USING i
    WHERE i.delivery_id NOT IN (SELECT id FROM done)
      AND a.delivery_id = i.delivery_id AND a.attempt = i.attempt AND a.status_code IS NULL
      AND a.error LIKE 'no outcome recorded:%'),
  att AS (
    INSERT INTO delivery_attempts (id, delivery_id, attempt, at, status_code, duration_ms, error, response_body)
    SELECT i.attempt_id, d.id, i.attempt, i.at, i.status_code, i.duration_ms, i.error, i.response_body
    FROM i JOIN deliveries d ON d.id = i.delivery_id
    /*again*/
    RETURNING id),
  last_ok AS (
    SELECT endpoint_id, max(at) FILTER (WHERE health = 'success') AS at FROM i GROUP BY endpoint_id),
  h AS (
    SELECT i.endpoint_id, o.at AS last_ok,
      min(i.at) FILTER (WHERE i.health = 'failure' AND (o.at IS NULL OR i.at > o.at)) AS bad_since
    FROM i JOIN last_ok o ON o.endpoint_id = i.endpoint_id
    GROUP BY i.endpoint_id, o.at),
  health AS (
    UPDATE webhook_endpoints w
    SET failing_since = CASE WHEN h.last_ok IS NULL THEN COALESCE(w.failing_since, h.bad_since) ELSE h.bad_since END
    FROM h
    WHERE w.id = h.endpoint_id AND (h.last_ok IS NOT NULL OR h.bad_since IS NOT NULL)
      AND w.failing_since IS DISTINCT FROM
        (CASE WHEN h.last_ok IS NULL THEN COALESCE(w.failing_since, h.bad_since) ELSE h.bad_since END)
    RETURNING w.id)
SELECT i.attempt_id, EXISTS (SELECT 1 FROM done WHERE done.id = i.delivery_id) AS applied,
  CASE WHEN i.health = 'failure' THEN w.failing_since END AS failing_since
FROM i LEFT JOIN webhook_endpoints w ON w.id = i.endpoint_id`;

// Written again after an outage, the statement may find its own rows: the first try can have committed with
// only its answer lost. The first try goes without the conflict check (speculative insertion costs on every row).
const RECORD_AGAIN = RECORD.replace('/*again*/', 'ON CONFLICT (id) DO NOTHING');

export interface RecordedAttempt {
  /** the delivery changed (the lease was still this worker's) */
  applied: boolean;
  /** for a failure, the start of the endpoint's failing run before this batch (null: this batch starts it) */
  failingSince: Date | null;
}

/**
 * Writes the attempt rows and moves each delivery on if its lease is still this worker's, in one statement.
 * The results are in the order of `outcomes` (attempt ids must be distinct).
 */
export async function recordAttempts(
  q: Query,
  outcomes: readonly AttemptOutcome[],
  opts: { again?: boolean } = {},
): Promise<RecordedAttempt[]> {
  if (outcomes.length === 0) return [];
  // every column travels as text[] (typed arrays with NULLs and Dates are serialized differently by the
  // postgres.js and PGlite drivers; text is the same on both) and is cast back in the statement
  const col = (f: (o: AttemptOutcome) => string | number | Date | null): (string | null)[] =>
    outcomes.map((o) => {
      const v = f(o);
      return v === null ? null : v instanceof Date ? v.toISOString() : String(v);
    });
  const rows = await q<{ attempt_id: string; applied: boolean; failing_since: Date | null }>(
    opts.again ? RECORD_AGAIN : RECORD,
    [
      col((o) => o.deliveryId),
      col((o) => o.token),
      col((o) => o.status),
      col((o) => o.nextAttemptAt),
      col((o) => o.now),
      col((o) => o.attemptId),
      col((o) => o.attempt),
      col((o) => o.at),
      col((o) => o.statusCode),
      col((o) => o.durationMs),
      col((o) => o.error),
      col((o) => o.responseBody),
      col((o) => o.health ?? 'none'),
      col((o) => o.endpointId),
    ],
  );
  const byId = new Map(rows.map((r) => [r.attempt_id, r]));
  return outcomes.map((o) => {
    const row = byId.get(o.attemptId);
    return { applied: row?.applied === true, failingSince: row?.failing_since ?? null };
  });
}

/** One outcome: recordAttempts of one. */
export async function recordAttempt(q: Query, o: AttemptOutcome): Promise<RecordedAttempt> {
  const [r] = await recordAttempts(q, [o]);
  return r ?? { applied: false, failingSince: null };
}

/** An UPDATE of the jobs a worker still holds ($1 ids, $2 their claim tokens), setting `set`. */
const heldUpdate = (set: string) => `UPDATE deliveries d SET ${set}
FROM unnest($1::text[], $2::text[]) AS h(id, token)
WHERE d.id = h.id AND d.lease_token = h.token AND d.status = 'pending'`;

const RENEW = heldUpdate('lease_until = $3');

// At the shutdown deadline, the jobs whose request is still unanswered are given back: lease cleared (another
// instance, or this one after its restart, takes them at once rather than 20 s later) and the attempt number
// taken back, since the attempt is not recorded (it was cut by our own shutdown, not failed by the endpoint).
const RELEASE = heldUpdate(
  'lease_until = NULL, lease_token = NULL, attempt_count = GREATEST(0, d.attempt_count - 1), updated_at = $3',
);

/** Extends the leases of jobs still held (matching their claim's token) to `until`. */
export async function renewLeases(q: Query, held: ReadonlyMap<string, string>, until: Date): Promise<void> {
  if (held.size === 0) return;
  await q(RENEW, [[...held.keys()], [...held.values()], until]);
}

/** Gives back the leases of jobs still held (see RELEASE). */
export async function releaseLeases(q: Query, held: ReadonlyMap<string, string>, now: Date): Promise<void> {
  if (held.size === 0) return;
  await q(RELEASE, [[...held.keys()], [...held.values()], now]);
}

// Pending deliveries of a disabled endpoint are failed rather than left waiting: left pending they would sit in
// front of every claim's index scan for as long as the endpoint stays off. A replay (onlyFailed) after
// re-enabling sends them again. Rows leased right now are left to their worker; the claim fails them next time.
// Only while the endpoint is still disabled: a sweep repeated later (see the worker) must not fail what an
// endpoint enabled again meanwhile has queued.
const FAIL_PENDING = `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = $2
WHERE endpoint_id = $1 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2)
  AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = $1 AND NOT w.enabled)`;

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

const STATS = `SELECT count(*)::int AS depth, min(next_attempt_at) AS oldest, now() AS db_now
FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1`;

/** Due pending deliveries, the oldest due time (the partial due index answers it), and the database's clock. */
export async function queueStats(
  q: Query,
  now: Date,
): Promise<{ depth: number; oldestDueAt: Date | null; dbNow: Date | null }> {
  const [row] = await q<{ depth: number; oldest: Date | null; db_now: Date | null }>(STATS, [now]);
  return { depth: row?.depth ?? 0, oldestDueAt: row?.oldest ?? null, dbNow: row?.db_now ?? null };
}
