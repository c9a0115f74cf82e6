import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { type Database, openDatabase } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';

export interface BenchDatabase {
  name: string;
  url: string;
  /** the parent's own connection (setup, seeding, counts); never used on a timed path */
  db: Database;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A throwaway `kefu_bench_<random>` database, migrated by the product's own migrator. */
export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `kefu_bench_${randomBytes(5).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end({ timeout: 5 });
  const url = withDatabase(adminUrl, name);
  let db: Database | undefined;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await db?.close().catch(() => {});
    const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      await a.unsafe(`drop database if exists ${name} with (force)`);
    } finally {
      await a.end({ timeout: 5 });
    }
  };
  try {
    db = await openDatabase({ url, poolMax: 4 });
    await migrateDatabase(db);
  } catch (err) {
    await drop();
    throw err;
  }
  return { name, url, db, drop };
}

export async function serverVersion(db: Database): Promise<string> {
  const rows = await db.query<{ v: string }>(`select current_setting('server_version') as v`);
  return rows[0]?.v ?? 'unknown';
}
