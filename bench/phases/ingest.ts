import type { Bench } from '../context.js';
import { receiverArrivals, waitForDeliveries } from '../context.js';
import type { KefuInstance } from '../kefu.js';
import { closedLoop, type LoadResult, mergeLoads, openLoop } from '../load.js';
import type { PushBatch } from '../pushes.js';

export interface SideBySide {
  /** each server's slices merged, by the name it was given */
  loads: Record<string, LoadResult>;
  /** each slice's rate, by server name */
  rounds: Record<string, number>[];
}

/**
 * (b), (c) and (c0) on the same pushes, in alternating slices (ABC, CBA, …), so that whatever else the machine
 * does weighs on all alike; each server stores into a database or tables of its own, so the same pushes are
 * new to each.
 */
export async function runSideBySide(
  b: Bench,
  targets: { name: string; url: string }[],
  warmup: PushBatch,
  batch: PushBatch,
): Promise<SideBySide> {
  const c = b.settings.connections;
  const rounds = b.settings.rounds;
  const slice = b.settings.ingestSeconds / rounds;
  const servers = targets.map((t) => ({ ...t, cursor: batch.cursor(), runs: [] as LoadResult[] }));
  for (const s of servers) {
    await closedLoop(s.url, {
      connections: c,
      seconds: b.settings.warmupSeconds,
      next: warmup.cursor().next,
    });
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      s.runs.push(await closedLoop(s.url, { connections: c, seconds: slice, next: s.cursor.next }));
    }
  }
  return {
    loads: Object.fromEntries(servers.map((s) => [s.name, mergeLoads(s.runs)])),
    rounds: Array.from({ length: rounds }, (_, i) =>
      Object.fromEntries(servers.map((s) => [s.name, s.runs[i]?.rate ?? 0])),
    ),
  };
}

/** How many of the timed pushes' events reached the receiver, and how long after the load the last did. */
export async function awaitIngestDeliveries(
  b: Bench,
  tag: number,
  n: number,
): Promise<{ delivered: number; catchUpSeconds: number }> {
  const stopped = Date.now();
  const s = await waitForDeliveries(b, tag, n, Math.max(10, b.settings.ingestSeconds) * 1000);
  return { delivered: s.distinct, catchUpSeconds: Math.max(0, (s.lastAt - stopped) / 1000) };
}

/** Acknowledgement latency at a fixed offered rate (open loop). */
export function runAckLatency(
  b: Bench,
  k: KefuInstance,
  batch: PushBatch,
  rate: number,
): Promise<LoadResult> {
  return openLoop(k.url, {
    connections: b.settings.connections,
    rate,
    seconds: b.settings.latencySeconds,
    next: batch.next,
  });
}

export interface EndToEndResult {
  load: LoadResult;
  sent: number;
  delivered: number;
  latencyMs: { p50: number; p99: number; max: number };
}

/** (d) push → webhook: intended send time here, arrival time at the receiver, same machine clock. */
export async function runEndToEnd(
  b: Bench,
  k: KefuInstance,
  batch: PushBatch,
  tag: number,
  rate: number,
): Promise<EndToEndResult> {
  const sentAt = new Map<string, number>();
  const load = await openLoop(k.url, {
    connections: b.settings.connections,
    rate,
    seconds: b.settings.latencySeconds,
    next: batch.next,
    onSend: (req, at) => sentAt.set(req.tag ?? '', at),
  });
  await waitForDeliveries(b, tag, load.ok, 60_000);
  const arrivals = await receiverArrivals(b, tag);
  const lat: number[] = [];
  for (const [msgId, at] of Object.entries(arrivals)) {
    const sent = sentAt.get(msgId);
    if (sent !== undefined) lat.push(at - sent);
  }
  lat.sort((x, y) => x - y);
  const at = (q: number) => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil(q * lat.length) - 1))] ?? 0;
  return {
    load,
    sent: sentAt.size,
    delivered: lat.length,
    latencyMs: { p50: at(0.5), p99: at(0.99), max: lat[lat.length - 1] ?? 0 },
  };
}
