import { mkdirSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { lockDataDir } from './data-dir-lock.js';
import * as schema from './schema/index.js';

export type Schema = typeof schema;
export type Orm = PgDatabase<PgQueryResultHKT, Schema>;

/**
 * A raw, parameterised query ($1, $2 …). On PostgreSQL it is a prepared statement (hot paths use it: an
 * unprepared query costs a second round trip and a re-plan). Timestamps come back as Date, int8 as number,
 * jsonb as parsed JSON; pass jsonb parameters as JSON text with a `::jsonb` cast.
 */
export type Query = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly orm: Orm;
  readonly query: Query;
  /** a transaction for raw queries; throws roll back */
  transaction<T>(fn: (q: Query) => Promise<T>): Promise<T>;
  /** LISTEN; the callback gets the payload. Returns the unlisten function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload?: string): Promise<void>;
  close(): Promise<void>;
  /** the PostgreSQL URL, when there is one (migrations take their own connection) */
  readonly url?: string;
  /** the embedded instance, when PGlite */
  readonly pglite?: PGlite;
}

export interface OpenDatabaseOptions {
  /** postgres://…, memory://, or undefined for PGlite in dataDir */
  url: string | undefined;
  dataDir?: string;
  poolMax?: number;
}

const INT8 = 20;

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  if (opts.url && opts.url !== 'memory://') return openPostgres(opts.url, opts.poolMax ?? 10);
  return openPglite(opts.url === 'memory://' ? undefined : (opts.dataDir ?? './data'));
}

function openPostgres(url: string, max: number): Database {
  const sql = postgres(url, {
    max,
    prepare: true,
    onnotice: () => {},
    types: {
      int8: { to: INT8, from: [INT8], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
    connection: { application_name: 'kefu-relay' },
  });
  const orm = drizzlePostgres(sql, { schema }) as unknown as Orm;
  // drizzle makes timestamps pass through as strings; raw queries want Dates, and drizzle maps Dates fine.
  for (const oid of ['1184', '1114']) {
    sql.options.parsers[oid as unknown as number] = (v: string) => new Date(oid === '1114' ? `${v}Z` : v);
    sql.options.serializers[oid as unknown as number] = (v: unknown) =>
      v instanceof Date ? v.toISOString() : (v as string);
  }
  const toQuery =
    (tx: postgres.Sql | postgres.TransactionSql): Query =>
    async <T>(text: string, params: unknown[] = []) =>
      (await tx.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
        prepare: true,
      })) as unknown as T[];
  return {
    kind: 'postgres',
    url,
    orm,
    query: toQuery(sql),
    transaction: async <T>(fn: (q: Query) => Promise<T>) =>
      (await sql.begin((tx) => fn(toQuery(tx as unknown as postgres.TransactionSql)))) as T,
    listen: async (channel, onNotify) => {
      const sub = await sql.listen(channel, (payload) => onNotify(payload));
      return () => sub.unlisten();
    },
    notify: async (channel, payload = '') => {
      await sql`select pg_notify(${channel}, ${payload})`;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

async function openPglite(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  // one process per directory (data-dir-lock.ts): a second one's writes would be lost
  const unlock = dataDir ? lockDataDir(dataDir) : () => {};
  let pg: PGlite;
  let drizzlePglite: typeof import('drizzle-orm/pglite').drizzle;
  try {
    // Loaded only when used: the embedded engine costs ~35 MB of memory that a PostgreSQL deployment never needs.
    const [pglite, orm] = await Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite')]);
    drizzlePglite = orm.drizzle;
    pg = await pglite.PGlite.create({ dataDir, parsers: { [INT8]: (v: string) => Number(v) } });
  } catch (err) {
    unlock();
    throw err;
  }
  const orm = drizzlePglite(pg, { schema }) as unknown as Orm;
  const toQuery =
    (tx: Pick<PGlite, 'query'>): Query =>
    async <T>(text: string, params: unknown[] = []) =>
      (await tx.query<T>(text, params)).rows;
  let closed = false;
  return {
    kind: 'pglite',
    orm,
    pglite: pg,
    query: toQuery(pg),
    transaction: <T>(fn: (q: Query) => Promise<T>) => pg.transaction((tx) => fn(toQuery(tx))),
    listen: async (channel, onNotify) => pg.listen(channel, onNotify),
    notify: async (channel, payload = '') => {
      await pg.query('select pg_notify($1, $2)', [channel, payload]);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await pg.close();
      } finally {
        unlock();
      }
    },
  };
}
