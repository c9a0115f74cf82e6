import { createHash } from 'node:crypto';
import type { Database, Query } from '../db/client.js';
import type { Deps } from '../deps.js';
import { AppError, problemBody } from '../errors.js';
import { intervalJob } from '../jobs.js';
import { WeChatUnavailableError } from '../wechat/errors.js';

/*
 * Idempotency-Key (http-api.md §4), kept in PostgreSQL so every instance and a restart see the same keys.
 * The first request inserts an in_progress row (ON CONFLICT DO NOTHING RETURNING decides the race); it
 * stores its final response; repeats with the same fingerprint replay it for 24 h. An in_progress row
 * whose owner died is taken over once its lease (`locked_until`) has passed. The owner's lease value is its
 * fencing token: completing matches it, so a stale owner cannot overwrite a taker's response.
 */

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Longer than any send can take (token wait 5 s, WeChat 5 s per attempt, busy retries). */
export const IDEMPOTENCY_LEASE_MS = 60_000;
export const IDEMPOTENCY_KEY_MAX = 255;

export interface StoredResponse {
  status: number;
  body: unknown;
}

export type IdempotentOutcome =
  | { replayed: false; response: StoredResponse }
  | { replayed: true; response: StoredResponse };

interface KeyRow {
  request_hash: string;
  state: string;
  response_status: number | null;
  response_body: string | null;
  locked_until: Date | null;
  expires_at: Date;
}

/** JSON with sorted keys, so the same body written in another key order is the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What makes two requests "the same": method, path and body (a Buffer is hashed as bytes). */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  const h = createHash('sha256').update(`${method.toUpperCase()} ${path}\n`);
  h.update(Buffer.isBuffer(body) ? body : canonical(body));
  return h.digest('hex');
}

export function validateIdempotencyKey(key: string): void {
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX || !/^[\x20-\x7e]+$/.test(key)) {
    throw new AppError('validation_failed', 'The Idempotency-Key header is not valid', {
      errors: [
        { path: 'Idempotency-Key', message: `must be 1–${IDEMPOTENCY_KEY_MAX} printable ASCII characters` },
      ],
    });
  }
}

type Claim = { kind: 'owner'; lockedUntil: Date } | { kind: 'replay'; response: StoredResponse };

async function claim(q: Query, tenantId: string, key: string, hash: string, now: Date): Promise<Claim> {
  const lockedUntil = new Date(now.getTime() + IDEMPOTENCY_LEASE_MS);
  const expiresAt = new Date(now.getTime() + IDEMPOTENCY_TTL_MS);
  for (let attempt = 0; attempt < 3; attempt++) {
    const inserted = await q(
      `insert into idempotency_keys (tenant_id, key, request_hash, state, locked_until, created_at, expires_at)
       values ($1, $2, $3, 'in_progress', $4, $5, $6) on conflict do nothing returning 1`,
      [tenantId, key, hash, lockedUntil, now, expiresAt],
    );
    if (inserted.length > 0) return { kind: 'owner', lockedUntil };
    const rows = await q<KeyRow>(
      `select request_hash, state, response_status, response_body, locked_until, expires_at
         from idempotency_keys where tenant_id = $1 and key = $2`,
      [tenantId, key],
    );
    const row = rows[0];
    if (!row) continue; // purged in between: insert again
    if (row.expires_at <= now) {
      // past 24 h but not purged yet: the key is free again
      const taken = await q(
        `update idempotency_keys set request_hash = $3, state = 'in_progress', response_status = null,
           response_body = null, locked_until = $4, created_at = $5, expires_at = $6
         where tenant_id = $1 and key = $2 and expires_at <= $5 returning 1`,
        [tenantId, key, hash, lockedUntil, now, expiresAt],
      );
      if (taken.length > 0) return { kind: 'owner', lockedUntil };
      continue;
    }
    if (row.request_hash !== hash) {
      throw new AppError(
        'idempotency_key_reused',
        'This Idempotency-Key was used with a different request in the last 24 hours; use a new key',
      );
    }
    if (row.state === 'done' && row.response_status !== null) {
      return {
        kind: 'replay',
        response: {
          status: row.response_status,
          body: row.response_body === null ? null : JSON.parse(row.response_body),
        },
      };
    }
    if (row.locked_until && row.locked_until > now) {
      throw new AppError(
        'idempotency_in_progress',
        'A request with this Idempotency-Key is still being processed; retry when it has answered',
      );
    }
    // The owner died mid-request (its lease passed): take over, exactly one taker wins.
    const taken = await q(
      `update idempotency_keys set locked_until = $3
       where tenant_id = $1 and key = $2 and state = 'in_progress' and locked_until <= $4 returning 1`,
      [tenantId, key, lockedUntil, now],
    );
    if (taken.length > 0) return { kind: 'owner', lockedUntil };
  }
  throw new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is being processed');
}

async function complete(q: Query, tenantId: string, key: string, lockedUntil: Date, r: StoredResponse) {
  await q(
    `update idempotency_keys set state = 'done', response_status = $4, response_body = $5, locked_until = null
     where tenant_id = $1 and key = $2 and state = 'in_progress' and locked_until = $3`,
    [tenantId, key, lockedUntil, r.status, JSON.stringify(r.body)],
  );
}

async function release(q: Query, tenantId: string, key: string, lockedUntil: Date) {
  await q(
    `delete from idempotency_keys where tenant_id = $1 and key = $2 and state = 'in_progress' and locked_until = $3`,
    [tenantId, key, lockedUntil],
  );
}

/**
 * WeChat took the message but kefu-relay could not record it (the database failed after the send). The key is
 * neither completed nor released: a repeat answers 409 in progress until its lease runs out, instead of
 * sending the message a second time.
 */
export class SentNotRecordedError extends AppError {
  constructor(cause: unknown) {
    super(
      'service_unavailable',
      'WeChat accepted the message, but the database failed before it was recorded; do not send it again',
      {},
      { cause },
    );
  }
}

/**
 * Whether a failure is the request's answer (kept and replayed) or our own trouble, after which the same key
 * may simply be tried again: bugs and database outages, and WeChat busy or unreachable before anything was
 * sent. A timeout after the send left is kept: WeChat may have delivered the message, and a blind retry
 * under the same key must not send it twice.
 */
function isFinal(err: unknown): err is AppError {
  if (!(err instanceof AppError)) return false;
  if (err.code === 'internal' || err.code === 'service_unavailable') return false;
  if (err.code === 'wechat_unavailable') {
    const cause = err.cause;
    return cause instanceof WeChatUnavailableError && cause.sent;
  }
  return true;
}

/**
 * Runs `run` at most once per (tenant, key, fingerprint): a repeat gets the stored response. Errors that are
 * the request's answer are stored as their problem body and rethrown (rendered as usual).
 */
export async function withIdempotency(
  db: Database,
  input: { tenantId: string; key: string; fingerprint: string; now: Date; requestId: string },
  run: () => Promise<StoredResponse>,
): Promise<IdempotentOutcome> {
  const c = await claim(db.query, input.tenantId, input.key, input.fingerprint, input.now);
  if (c.kind === 'replay') return { replayed: true, response: c.response };
  let response: StoredResponse;
  try {
    response = await run();
  } catch (err) {
    if (err instanceof SentNotRecordedError) throw err; // the key stays in progress (see above)
    if (isFinal(err)) {
      await complete(db.query, input.tenantId, input.key, c.lockedUntil, {
        status: err.status,
        body: problemBody(err, input.requestId),
      });
    } else {
      await release(db.query, input.tenantId, input.key, c.lockedUntil).catch(() => {});
    }
    throw err;
  }
  await complete(db.query, input.tenantId, input.key, c.lockedUntil, response);
  return { replayed: false, response };
}

/** Deletes keys past their 24 h, in bounded batches so one run never holds a long transaction. */
export async function purgeIdempotencyKeys(deps: Deps, batch = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await deps.db.query(
      `delete from idempotency_keys where ctid in (
         select ctid from idempotency_keys where expires_at <= $1 limit $2
       ) returning 1`,
      [deps.clock.now(), batch],
    );
    total += rows.length;
    if (rows.length < batch) return total;
  }
}

/** Failure policy: a failed purge is logged and tried again at the next interval; nothing depends on it. */
export function idempotencyPurgeJob(deps: Deps, intervalMs = 10 * 60 * 1000) {
  return intervalJob(
    'idempotency-purge',
    intervalMs,
    () => purgeIdempotencyKeys(deps),
    (err) => deps.log.error({ err }, 'idempotency purge failed'),
  );
}
