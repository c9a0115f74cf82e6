import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { withDatabase } from './pg-names.js';

export const onPostgres = Boolean(process.env.DATABASE_URL && process.env.DATABASE_URL !== 'memory://');

export interface TestDatabase {
  db: Database;
  /** the clone's URL on PostgreSQL (for a second instance or a child process); undefined on PGlite */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: a clone of the run's template on PostgreSQL, or an in-memory
 * PGlite when DATABASE_URL is unset.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!onPostgres) {
    const db = await openDatabase({ url: 'memory://' });
    await migrateDatabase(db);
    return { db, url: undefined, drop: () => db.close() };
  }
  const base = process.env.DATABASE_URL!;
  const name = `kefu_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  // Two files cloning at the same instant can see "source database is being accessed" (55006): try again.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.unsafe(`create database ${name} template ${inject('templateDb')}`);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  await admin.end();
  const url = withDatabase(base, name);
  const db = await openDatabase({ url, poolMax: 10 });
  return {
    db,
    url,
    drop: async () => {
      await db.close();
      const a = postgres(base, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/** An empty database with no migrations (for migration tests); PostgreSQL only. */
export async function createEmptyPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL!;
  const name = `kefu_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: withDatabase(base, name),
    drop: async () => {
      const a = postgres(base, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}
