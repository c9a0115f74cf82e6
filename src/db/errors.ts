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
