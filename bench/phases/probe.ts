import type { Database } from '../../src/db/client.js';

/**
 * How long one single-row commit takes right now (sequential, one connection): the floor under every
 * durable figure, and the first thing to move when other work shares the machine.
 */
export async function commitLatency(
  db: Database,
  n = 200,
): Promise<{ meanMs: number; p99Ms: number; selectMeanMs: number }> {
  await db.query(
    'create table if not exists bench_commit_probe (id bigint generated always as identity, at timestamptz)',
  );
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await db.query('insert into bench_commit_probe (at) values (now())');
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  // a bare round trip, no commit: what each extra statement of a transaction costs at least
  let rtt = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await db.query('select 1');
    rtt += performance.now() - t;
  }
  return {
    selectMeanMs: rtt / n,
    meanMs: lat.reduce((a, b) => a + b, 0) / n,
    p99Ms: lat[Math.ceil(0.99 * n) - 1] ?? 0,
  };
}
