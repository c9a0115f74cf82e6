import { Pool } from 'undici';

// The load generator: undici Pool, closed loop (N connections each sending its next request as soon as the
// previous answer arrives) for throughput, open loop (a fixed schedule, latency measured from the intended send
// time so a stalled server cannot hide its queue) for latency.

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** carried to the hooks (e.g. a push's MsgId) */
  tag?: string;
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  /** responses with a 2xx status */
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  /** ok per second */
  rate: number;
  latencyMs: Latency;
  statuses: Record<string, number>;
  /** the request source ran out before the time was up */
  exhausted: boolean;
  firstError?: string;
}

/** A growable list of latencies in ms, summarised exactly (sorted) at the end. */
class Samples {
  private chunks: Float64Array[] = [new Float64Array(65_536)];
  private n = 0;
  add(v: number): void {
    const i = this.n % 65_536;
    if (i === 0 && this.n > 0) this.chunks.push(new Float64Array(65_536));
    this.chunks[this.chunks.length - 1]![i] = v;
    this.n++;
  }
  summary(): Latency {
    if (this.n === 0) return { p50: 0, p99: 0, max: 0, mean: 0 };
    const all = new Float64Array(this.n);
    let off = 0;
    for (const c of this.chunks) {
      const take = Math.min(c.length, this.n - off);
      all.set(c.subarray(0, take), off);
      off += take;
    }
    all.sort();
    let sum = 0;
    for (const v of all) sum += v;
    const at = (q: number) => all[Math.min(this.n - 1, Math.ceil(q * this.n) - 1)] ?? 0;
    return { p50: at(0.5), p99: at(0.99), max: all[this.n - 1] ?? 0, mean: sum / this.n };
  }
}

interface Tally {
  ok: number;
  non2xx: number;
  errors: number;
  statuses: Record<string, number>;
  samples: Samples;
  firstError?: string;
}

function newTally(): Tally {
  return { ok: 0, non2xx: 0, errors: 0, statuses: {}, samples: new Samples() };
}

async function send(pool: Pool, req: LoadRequest, tally: Tally, since: number): Promise<number | null> {
  try {
    const res = await pool.request({
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: req.body,
    });
    await res.body.text();
    tally.samples.add(performance.now() - since);
    const key = String(res.statusCode);
    tally.statuses[key] = (tally.statuses[key] ?? 0) + 1;
    if (res.statusCode >= 200 && res.statusCode < 300) tally.ok++;
    else tally.non2xx++;
    return res.statusCode;
  } catch (err) {
    tally.errors++;
    tally.firstError ??= err instanceof Error ? err.message : String(err);
    return null;
  }
}

function result(tally: Tally, seconds: number, exhausted: boolean): LoadResult {
  return {
    ok: tally.ok,
    non2xx: tally.non2xx,
    errors: tally.errors,
    seconds,
    rate: tally.ok / seconds,
    latencyMs: tally.samples.summary(),
    statuses: tally.statuses,
    exhausted,
    ...(tally.firstError ? { firstError: tally.firstError } : {}),
  };
}

export interface ClosedLoopOptions {
  connections: number;
  seconds: number;
  /** the next request, or null when there are no more */
  next: () => LoadRequest | null;
  /** stop early when this returns true (checked every 100 ms) */
  until?: () => boolean;
  onResponse?: (req: LoadRequest, status: number | null) => void;
}

/** As fast as the server answers, with `connections` requests in flight. */
export async function closedLoop(origin: string, opts: ClosedLoopOptions): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: opts.connections, pipelining: 1 });
  const tally = newTally();
  const started = performance.now();
  const endAt = started + opts.seconds * 1000;
  let exhausted = false;
  let stop = false;
  const check = setInterval(() => {
    if (opts.until?.()) stop = true;
  }, 100);
  const worker = async () => {
    while (!stop && performance.now() < endAt) {
      const req = opts.next();
      if (!req) {
        exhausted = true;
        return;
      }
      const status = await send(pool, req, tally, performance.now());
      opts.onResponse?.(req, status);
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  clearInterval(check);
  await pool.close();
  return result(tally, seconds, exhausted);
}

export interface OpenLoopOptions {
  connections: number;
  /** requests per second */
  rate: number;
  seconds: number;
  next: () => LoadRequest | null;
  /** called with the intended send time (epoch ms, sub-ms precision) of each request */
  onSend?: (req: LoadRequest, intendedEpochMs: number) => void;
}

/** A fixed schedule of `rate` requests per second, whatever the server does; latency from the intended time. */
export async function openLoop(origin: string, opts: OpenLoopOptions): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: opts.connections, pipelining: 1 });
  const tally = newTally();
  const total = Math.round(opts.rate * opts.seconds);
  const interval = 1000 / opts.rate;
  const started = performance.now();
  const inflight = new Set<Promise<unknown>>();
  let sent = 0;
  let exhausted = false;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
      while (sent < due) {
        const req = opts.next();
        if (!req) {
          exhausted = true;
          break;
        }
        const intended = started + sent * interval;
        opts.onSend?.(req, performance.timeOrigin + intended);
        const p = send(pool, req, tally, intended);
        inflight.add(p);
        void p.then(() => inflight.delete(p));
        sent++;
      }
      if (sent < total && !exhausted) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(inflight);
  await pool.close();
  // the offered rate is fixed, so the scheduled duration is the one to divide by
  return result(tally, sent / opts.rate, exhausted);
}

/**
 * One figure from several slices of the same load (interleaved rounds): counts and time add up; of the
 * latencies, p50 is the median of the slices' and p99/max the worst slice's (summaries cannot be merged exactly).
 */
export function mergeLoads(runs: LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => runs.reduce((a, r) => a + f(r), 0);
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const p50s = runs.map((r) => r.latencyMs.p50).sort((a, b) => a - b);
  const seconds = sum((r) => r.seconds);
  const ok = sum((r) => r.ok);
  const firstError = runs.find((r) => r.firstError)?.firstError;
  return {
    ok,
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    seconds,
    rate: seconds > 0 ? ok / seconds : 0,
    latencyMs: {
      p50: p50s[Math.floor((p50s.length - 1) / 2)] ?? 0,
      p99: Math.max(0, ...runs.map((r) => r.latencyMs.p99)),
      max: Math.max(0, ...runs.map((r) => r.latencyMs.max)),
      mean: ok > 0 ? sum((r) => r.latencyMs.mean * r.ok) / ok : 0,
    },
    statuses,
    exhausted: runs.some((r) => r.exhausted),
    ...(firstError ? { firstError } : {}),
  };
}
