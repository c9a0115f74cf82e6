import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Database } from './client.js';

export const MIGRATIONS_FOLDER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'drizzle');

/** Arbitrary constant: the advisory lock every instance takes while migrating. */
const MIGRATION_LOCK_ID = 727_001;

/**
 * Applies pending migrations. On PostgreSQL this runs on one dedicated connection holding a session advisory
 * lock, so instances starting together migrate once and the others wait, then find nothing to do.
 */
export async function migrateDatabase(db: Database): Promise<void> {
  if (db.kind === 'pglite') {
    const [{ drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
      import('drizzle-orm/pglite'),
      import('drizzle-orm/pglite/migrator'),
    ]);
    await migratePglite(drizzlePglite(db.pglite!), { migrationsFolder: MIGRATIONS_FOLDER });
    return;
  }
  const sql = postgres(db.url!, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    try {
      await migratePostgres(drizzlePostgres(sql), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** How many migrations this build ships (drizzle's journal). */
export function expectedMigrationCount(): number {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
    entries: unknown[];
  };
  return journal.entries.length;
}

/** true when the database answers and every shipped migration is applied (readiness). */
export async function isMigrated(db: Database, expected: number): Promise<boolean> {
  const rows = await db.query<{ n: number }>(`select count(*)::int as n from drizzle.__drizzle_migrations`);
  return (rows[0]?.n ?? 0) >= expected;
}
