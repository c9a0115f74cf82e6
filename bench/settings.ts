// Every knob of the run, from the environment. BENCH_QUICK=1 shortens everything to a 1–2 minute smoke pass.

export interface Settings {
  quick: boolean;
  databaseUrl: string;
  connections: number;
  helloSeconds: number;
  /** (b) and (c) both run this long, side by side */
  ingestSeconds: number;
  /** (b) and (c) alternate in this many slices each */
  rounds: number;
  warmupSeconds: number;
  latencySeconds: number;
  replySeconds: number;
  drainDeliveries: number;
  /** give up waiting for the solo drain after this long (the rate is then over what did arrive) */
  drainTimeoutSeconds: number;
  /** pre-generated pushes per second of (b)/(c): above the machine's measured ceilings, so they never run out */
  maxRate: number;
  logLevel: string;
  cpuProfile: boolean;
}

function num(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}

export function loadSettings(): Settings {
  const quick = ['1', 'true', 'yes'].includes(process.env.BENCH_QUICK ?? '');
  const ingestSeconds = num('BENCH_SECONDS', quick ? 8 : 30);
  return {
    quick,
    databaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    connections: num('BENCH_CONNECTIONS', 64),
    helloSeconds: num('BENCH_HELLO_SECONDS', quick ? 4 : 10),
    ingestSeconds,
    rounds: Math.round(num('BENCH_ROUNDS', quick ? 2 : 3)),
    warmupSeconds: num('BENCH_WARMUP_SECONDS', quick ? 1 : 3),
    latencySeconds: num('BENCH_LATENCY_SECONDS', quick ? 5 : 15),
    replySeconds: num('BENCH_REPLY_SECONDS', quick ? 5 : 15),
    drainDeliveries: num('BENCH_DRAIN_DELIVERIES', quick ? 10_000 : 50_000),
    drainTimeoutSeconds: num('BENCH_DRAIN_TIMEOUT_SECONDS', quick ? 30 : 90),
    maxRate: num('BENCH_MAX_RATE', 9_000),
    logLevel: process.env.BENCH_LOG_LEVEL || 'info',
    cpuProfile: ['1', 'true', 'yes'].includes(process.env.BENCH_CPU_PROF ?? ''),
  };
}
