import type { BenchDatabase } from './db.js';
import type { KefuSettings } from './kefu.js';
import type { Child } from './proc.js';
import type { PushFactory } from './pushes.js';
import type { Settings } from './settings.js';

export interface Bench {
  settings: Settings;
  logDir: string;
  database: BenchDatabase;
  kefu: KefuSettings;
  receiver: { url: string; child: Child };
  fakeWechat: { url: string; child: Child };
  pushes: PushFactory;
  /** lines for the report: what could not be measured and why, or what to read into a figure */
  notes: string[];
  log(line: string): void;
}

interface TagStats {
  count: number;
  distinct: number;
  firstAt: number;
  lastAt: number;
}

export interface ReceiverStats {
  total: number;
  unparsed: number;
  byTag: Record<string, TagStats>;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

export function receiverStats(b: Bench): Promise<ReceiverStats> {
  return getJson<ReceiverStats>(`${b.receiver.url}/stats`);
}

export function receiverArrivals(b: Bench, tag: number): Promise<Record<string, number>> {
  return getJson<Record<string, number>>(`${b.receiver.url}/arrivals?tag=${tag}`);
}

export function tagStats(stats: ReceiverStats, tag: number): TagStats {
  return stats.byTag[String(tag)] ?? { count: 0, distinct: 0, firstAt: 0, lastAt: 0 };
}

/** Polls the receiver until `n` distinct events of `tag` arrived or the time is up; returns the last stats. */
export async function waitForDeliveries(
  b: Bench,
  tag: number,
  n: number,
  timeoutMs: number,
): Promise<TagStats> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = tagStats(await receiverStats(b), tag);
    if (s.distinct >= n || Date.now() > until) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Removes deliveries an earlier phase left pending (not leased by a worker right now), so each delivery figure
 * measures its own phase only; how many there were is itself reported (a worker that fell behind).
 */
export async function purgePending(b: Bench, phase: string): Promise<number> {
  const rows = await b.database.db.query<{ n: number }>(
    `with gone as (delete from deliveries where status = 'pending' and (lease_until is null or lease_until < now())
       returning 1) select count(*)::int as n from gone`,
  );
  const n = rows[0]?.n ?? 0;
  if (n > 0)
    b.notes.push(`${n} deliveries still pending were removed before ${phase} (the worker had fallen behind)`);
  return n;
}
