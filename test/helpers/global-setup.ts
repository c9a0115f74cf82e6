import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { withDatabase } from './pg-names.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDb: string;
  }
}

/**
 * With DATABASE_URL: build one migrated template database for this run (its own name, so concurrent runs do not
 * collide); every test file clones it with CREATE DATABASE … TEMPLATE, far faster than migrating each time.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const url = process.env.DATABASE_URL;
  const template = `kefu_tpl_${randomBytes(5).toString('hex')}`;
  project.provide('templateDb', template);
  if (!url || url === 'memory://') return async () => {};
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${template}`);
  await admin.end();
  const db = await openDatabase({ url: withDatabase(url, template) });
  await migrateDatabase(db);
  await db.close();
  return async () => {
    const a = postgres(url, { max: 1, onnotice: () => {} });
    await a.unsafe(`drop database if exists ${template} with (force)`).catch(() => {});
    await a.end();
  };
}
