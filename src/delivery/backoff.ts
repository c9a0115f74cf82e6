/**
 * When to try a failed delivery again. Pure, so the schedule is tested without time passing.
 *
 * `attempt` is the number of the attempt that just failed (1 = the first, immediate one); the delay before
 * attempt n+1 is `schedule[n-1]` (DELIVERY_RETRY_SCHEDULE lists the delays before attempts 2..n), spread ±20%
 * by `random` (a value in [0, 1)) so that endpoints that failed together do not all come back at one instant.
 * A 429/503's `Retry-After` (seconds or an HTTP date) may stretch the delay, to at most twice the scheduled one:
 * `max(scheduled, min(retryAfter, 2 × scheduled))`. Returns null when the schedule is used up (→ `failed`).
 */
export function nextAttemptDelay(
  attempt: number,
  schedule: readonly number[],
  retryAfterHeader: string | null | undefined,
  random: number,
  nowMs: number = Date.now(),
): number | null {
  if (attempt < 1 || attempt > schedule.length) return null;
  const base = schedule[attempt - 1] as number;
  const scheduled = Math.round(base * (0.8 + 0.4 * Math.min(Math.max(random, 0), 1)));
  const retryAfter = parseRetryAfter(retryAfterHeader, nowMs);
  if (retryAfter === null) return scheduled;
  return Math.max(scheduled, Math.min(retryAfter, 2 * scheduled));
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date; null when absent or malformed. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // HTTP dates (IMF-fixdate, RFC 850) end in GMT; Date.parse alone would also take "3.5" or "2026"
  if (!/^[A-Za-z]{3,9}, .+ GMT$/.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** How many attempts a delivery gets in all: the immediate one plus one per schedule entry. */
export function maxAttempts(schedule: readonly number[]): number {
  return schedule.length + 1;
}
