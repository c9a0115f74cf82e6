/**
 * Error codes that mean "the database cannot serve us right now" (unreachable, refusing connections, out of
 * resources, read-only in a failover), as opposed to a bad query: answered 503, so WeChat and clients retry.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57P04', // database_dropped
  '53000', // insufficient_resources
  '53100', // disk_full
  '53200', // out_of_memory
  '53300', // too_many_connections
  '3D000', // invalid_catalog_name: the database does not exist (yet, or any more)
  '28000', // invalid_authorization_specification: refused at connection (pg_hba, role cannot log in)
  '28P01', // invalid_password
  '25006', // read_only_sql_transaction: a standby, or a primary demoted during a failover
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/** 55000 is object_not_in_prerequisite_state: an outage only when it is the refused connection. */
const REFUSED_CONNECTION = /not currently accepting connections/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined, i = 0;
    e && i < 5;
    i++
  ) {
    if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
    if (e.code === '55000' && REFUSED_CONNECTION.test(String((e as { message?: unknown }).message ?? '')))
      return true;
    if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x))) return true;
    if (e instanceof Error && /PGlite is closed/i.test(e.message)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** How long a write waits, try by try, for a dropped connection to come back (about 1.5 s in all). */
export const OUTAGE_RETRY_MS: readonly number[] = [100, 400, 1_000];

/**
 * Runs `op` (given its try number, 0 first), trying again after each of `delaysMs` while it fails because the
 * database is unavailable; any other failure, or the last one, is thrown.
 */
export async function retryThroughOutage<T>(
  op: (attempt: number) => Promise<T>,
  delaysMs: readonly number[] = OUTAGE_RETRY_MS,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      const delay = delaysMs[attempt];
      if (delay === undefined || !isDatabaseUnavailable(err)) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
