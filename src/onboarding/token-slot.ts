import { setTimeout as delay } from 'node:timers/promises';
import type { Deps } from '../deps.js';
import { AppError } from '../errors.js';
import { randomToken } from '../secrets.js';

// The single-flight token cache shared by the component token (component_state) and the authorizer tokens
// (authorizers): both tables carry the same columns (access_token_enc, access_token_expires_at,
// access_token_issued_at, token_version, lease_until, lease_owner, last_error). wechat-protocol.md §3.9.

export interface SlotTable {
  table: 'component_state' | 'authorizers';
  keyColumn: 'component_appid' | 'appid';
  kind: 'component' | 'authorizer';
  /** the error when the row does not exist (no lease can be taken on it) */
  missing: () => Error;
}

export interface CachedToken {
  token: string;
  version: number;
  expiresAt: Date;
  issuedAt: Date;
}

export interface FreshToken {
  token: string;
  expiresIn: number;
}

interface SlotRow {
  access_token_enc: string | null;
  access_token_expires_at: Date | null;
  access_token_issued_at: Date | null;
  token_version: number;
  lease_until: Date | null;
}

/** A refresh lease outlives any WeChat call (timeout 5 s, two retries); a dead holder frees it after this. */
export const LEASE_MS = 30_000;
/** Losers poll the winner's row for this long before giving up with wechat_unavailable. */
export const WAIT_MS = 5_000;
const POLL_MS = 25;

/** In-request refresh margin: min(60 s, a quarter of the lifetime). */
export function requestMarginMs(lifetimeMs: number): number {
  return Math.min(60_000, lifetimeMs / 4);
}

/** Background refresh margin: min(600 s, half of the lifetime). */
export function backgroundMarginMs(lifetimeMs: number): number {
  return Math.min(600_000, lifetimeMs / 2);
}

function lifetimeMs(t: { expiresAt: Date; issuedAt: Date }): number {
  return Math.max(0, t.expiresAt.getTime() - t.issuedAt.getTime());
}

/** True when the token has less than `margin(lifetime)` left at `now`. */
export function insideMargin(t: CachedToken, now: Date, margin: (lifetimeMs: number) => number): boolean {
  return t.expiresAt.getTime() - now.getTime() < margin(lifetimeMs(t));
}

export class TokenSlot {
  constructor(
    private readonly deps: Deps,
    private readonly spec: SlotTable,
    private readonly key: string,
  ) {}

  async read(): Promise<CachedToken | null> {
    const { table, keyColumn } = this.spec;
    const rows = await this.deps.db.query<SlotRow>(
      `SELECT access_token_enc, access_token_expires_at, access_token_issued_at, token_version, lease_until
       FROM ${table} WHERE ${keyColumn} = $1`,
      [this.key],
    );
    return this.decode(rows[0]);
  }

  private decode(row: SlotRow | undefined): CachedToken | null {
    if (!row?.access_token_enc || !row.access_token_expires_at) return null;
    return {
      token: this.deps.secrets.decrypt(row.access_token_enc),
      version: row.token_version,
      expiresAt: row.access_token_expires_at,
      issuedAt: row.access_token_issued_at ?? row.access_token_expires_at,
    };
  }

  /**
   * A token with more than `margin` left, refreshing single-flight when needed: one conditional UPDATE takes the
   * lease; the winner re-checks and refreshes; the others keep using a still-valid token, or poll the row for up
   * to WAIT_MS for the winner's result. They never refresh while someone holds the lease.
   */
  async get(
    fetchNew: () => Promise<FreshToken>,
    margin: (lifetimeMs: number) => number = requestMarginMs,
  ): Promise<CachedToken> {
    const waitUntil = performance.now() + WAIT_MS;
    for (;;) {
      const now = this.deps.clock.now();
      const current = await this.read();
      if (current && !insideMargin(current, now, margin)) return current;
      const won = await this.tryLease(now);
      if (won) return this.refreshHoldingLease(won, fetchNew, margin);
      // Someone else is refreshing: a token that has not expired yet is still good for this call.
      if (current && current.expiresAt.getTime() > now.getTime()) return current;
      if (!current && !(await this.exists())) throw this.spec.missing();
      if (performance.now() >= waitUntil) {
        throw new AppError('wechat_unavailable', 'Timed out waiting for another instance to refresh a token');
      }
      await delay(POLL_MS);
    }
  }

  private async exists(): Promise<boolean> {
    const { table, keyColumn } = this.spec;
    const rows = await this.deps.db.query(`SELECT 1 FROM ${table} WHERE ${keyColumn} = $1`, [this.key]);
    return rows.length > 0;
  }

  private async tryLease(now: Date): Promise<{ owner: string; row: CachedToken | null } | null> {
    const { table, keyColumn } = this.spec;
    const owner = randomToken(9);
    const rows = await this.deps.db.query<SlotRow>(
      `UPDATE ${table} SET lease_until = $2, lease_owner = $3
       WHERE ${keyColumn} = $1 AND (lease_until IS NULL OR lease_until < $4)
       RETURNING access_token_enc, access_token_expires_at, access_token_issued_at, token_version, lease_until`,
      [this.key, new Date(now.getTime() + LEASE_MS), owner, now],
    );
    if (rows.length === 0) return null;
    return { owner, row: this.decode(rows[0]) };
  }

  private async refreshHoldingLease(
    lease: { owner: string; row: CachedToken | null },
    fetchNew: () => Promise<FreshToken>,
    margin: (lifetimeMs: number) => number,
  ): Promise<CachedToken> {
    const { kind } = this.spec;
    // Re-read under the lease: another instance may have stored a fresh token between our read and the lease.
    if (lease.row && !insideMargin(lease.row, this.deps.clock.now(), margin)) {
      await this.release(lease.owner, null);
      return lease.row;
    }
    let fresh: FreshToken;
    // when we asked: what orders this token against another refresher's (see store)
    const asked = this.deps.clock.now();
    try {
      fresh = await fetchNew();
    } catch (err) {
      this.deps.metrics.tokenRefreshes.inc({ kind, outcome: 'error' });
      await this.release(
        lease.owner,
        err instanceof Error ? err.message.slice(0, 500) : 'refresh failed',
      ).catch(() => {});
      throw err;
    }
    this.deps.metrics.tokenRefreshes.inc({ kind, outcome: 'ok' });
    const stored = await this.store(fresh, lease.owner, asked);
    if (stored) return stored;
    // A newer token was written meanwhile (write-if-newer refused ours): use that one.
    await this.release(lease.owner, null);
    const now = await this.read();
    if (!now) throw new AppError('wechat_unavailable', 'Token vanished while refreshing');
    return now;
  }

  /**
   * Write-if-newer: a slow refresher never overwrites a token WeChat issued after its own. Newer is by when it
   * was asked for, not by expiry: WeChat may shorten the lifetime, and the token it issued last is the one
   * that works (it supersedes the others), however soon it expires. A stored token already expired (or expired
   * by compare-and-expire) when ours was asked for is older whatever its issue time. (wechat-protocol.md §3.9
   * compares expiries; with a shortened lifetime that keeps the superseded token, so the README says why not.)
   * The expiry is counted from the answer's arrival (§3.9: local receive time + expires_in).
   */
  async store(fresh: FreshToken, owner: string | null, asked: Date): Promise<CachedToken | null> {
    const { table, keyColumn } = this.spec;
    const issuedAt = asked;
    const received = this.deps.clock.now();
    const expiresAt = new Date(received.getTime() + fresh.expiresIn * 1000);
    const rows = await this.deps.db.query<SlotRow>(
      `UPDATE ${table} SET access_token_enc = $2, access_token_expires_at = $3, access_token_issued_at = $4,
         token_version = token_version + 1, last_error = NULL, updated_at = $6,
         lease_until = CASE WHEN lease_owner = $5 THEN NULL ELSE lease_until END,
         lease_owner = CASE WHEN lease_owner = $5 THEN NULL ELSE lease_owner END
       WHERE ${keyColumn} = $1
         AND (access_token_issued_at IS NULL OR access_token_issued_at <= $4 OR access_token_expires_at <= $4)
       RETURNING access_token_enc, access_token_expires_at, access_token_issued_at, token_version, lease_until`,
      [this.key, this.deps.secrets.encrypt(fresh.token), expiresAt, issuedAt, owner, received],
    );
    return this.decode(rows[0]);
  }

  private async release(owner: string, error: string | null): Promise<void> {
    const { table, keyColumn } = this.spec;
    await this.deps.db.query(
      `UPDATE ${table} SET lease_until = NULL, lease_owner = NULL, last_error = COALESCE($3, last_error)
       WHERE ${keyColumn} = $1 AND lease_owner = $2`,
      [this.key, owner, error],
    );
  }

  /** Compare-and-expire: only the token that failed (same version) is expired; a newer one is left alone. */
  async expire(version: number): Promise<void> {
    const { table, keyColumn } = this.spec;
    await this.deps.db.query(
      `UPDATE ${table} SET access_token_expires_at = to_timestamp(0), updated_at = $3
       WHERE ${keyColumn} = $1 AND token_version = $2`,
      [this.key, version, this.deps.clock.now()],
    );
  }

  /** Drops the token entirely (revocation). */
  async destroy(): Promise<void> {
    const { table, keyColumn } = this.spec;
    await this.deps.db.query(
      `UPDATE ${table} SET access_token_enc = NULL, access_token_expires_at = NULL, access_token_issued_at = NULL,
         token_version = token_version + 1 WHERE ${keyColumn} = $1`,
      [this.key],
    );
  }
}
