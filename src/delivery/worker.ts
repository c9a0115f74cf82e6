import { randomUUID } from 'node:crypto';
import { retryThroughOutage } from '../db/errors.js';
import type { Deps } from '../deps.js';
import { newId } from '../ids.js';
import { type BackgroundJob, intervalJob } from '../jobs.js';
import { maxAttempts, nextAttemptDelay } from './backoff.js';
import { DELIVERIES_CHANNEL, webhookBody } from './outbox.js';
import {
  type AttemptOutcome,
  type ClaimedJob,
  claimDue,
  disableFailingEndpoint,
  failPendingDeliveries,
  queueStats,
  type RecordedAttempt,
  recordAttempts,
  releaseLeases,
  renewLeases,
} from './queue.js';
import { WebhookSender } from './sender.js';
import { secretKey, signatureHeader } from './signing.js';
import type { Resolver } from './url-policy.js';

export interface DeliveryWorkerOptions {
  /** DNS for the address guard (tests make a name resolve where they want) */
  resolve?: Resolver;
  /** jitter source, [0, 1) */
  random?: () => number;
  /** the polling backstop behind LISTEN/NOTIFY */
  pollIntervalMs?: number;
  /** how often leases of jobs still running are extended, when attempts may outlast a lease (tests) */
  leaseRenewIntervalMs?: number;
}

export type DeliveryWorker = Omit<BackgroundJob, 'runOnce'> & {
  wake(): void;
  /** claims one batch, attempts all of it, and says how many it claimed */
  runOnce(): Promise<number>;
  /** runOnce claims at most this many */
  readonly batchSize: number;
};

const MAX_BATCH = 100;
/** outcomes written by one statement at most */
const MAX_RECORD_BATCH = 200;
/** time a worker keeps a claimed job beyond the attempt's own timeout, for writing the outcome */
const LEASE_MARGIN_MS = 5_000;
/**
 * The longest lease a claim takes, so that a job of an instance that died is attempted again within 30 s
 * (http-api.md §6: lease + the 1 s poll). When DELIVERY_TIMEOUT_MS + the margin is longer, the worker extends
 * the leases of its running jobs every quarter lease instead.
 */
const MAX_LEASE_MS = 20_000;

/**
 * Claims due deliveries and POSTs them, `config.deliveryConcurrency` at a time. Claiming never waits for a batch
 * to finish: free slots are refilled as attempts end, and no endpoint may hold more than
 * `config.deliveryConcurrencyPerEndpoint` of them, never more than half, and with k endpoints busy or with
 * work none more than 1/(k+1) of them: however many endpoints are slow or hanging (each attempt bounded by
 * DELIVERY_TIMEOUT_MS), one more always finds free slots.
 * Woken by NOTIFY on `kefu_deliveries`, polling every second as the backstop. Failure policy: an error while
 * recording an outcome is logged and the lease runs out, so the job is attempted again (at least once, never
 * lost). Pending deliveries of a disabled endpoint are failed, not sent (see queue.ts).
 */
export function createDeliveryWorker(deps: Deps, opts: DeliveryWorkerOptions = {}): DeliveryWorker {
  const { config, metrics } = deps;
  const concurrency = config.deliveryConcurrency;
  const batchSize = Math.min(MAX_BATCH, concurrency);
  // half the slots at most, whatever the setting: a hanging endpoint always leaves the other half to the rest
  const perEndpointMax = Math.max(
    1,
    Math.min(config.deliveryConcurrencyPerEndpoint, Math.ceil(concurrency / 2)),
  );
  /** claimDue's cap with `active` endpoints busy or with work: at most slots/(active+1) each */
  const sharedCap = (active: number) =>
    Math.max(1, Math.min(perEndpointMax, Math.floor(concurrency / (active + 1))));
  const leaseMs = Math.min(config.deliveryTimeoutMs + LEASE_MARGIN_MS, MAX_LEASE_MS);
  const renewsLeases = config.deliveryTimeoutMs + LEASE_MARGIN_MS > leaseMs;
  const schedule = config.deliveryRetryScheduleMs;
  const random = opts.random ?? Math.random;
  const sender = new WebhookSender({
    timeoutMs: config.deliveryTimeoutMs,
    allowPrivateNetworks: config.webhookAllowPrivateNetworks,
    ...(opts.resolve ? { resolve: opts.resolve } : {}),
  });
  const keys = new Map<string, Buffer>();

  const inFlight = new Set<Promise<void>>();
  /** delivery id → claim token of every job this worker holds, for renewing their leases */
  const held = new Map<string, string>();
  /** the same for the jobs whose request has no answer yet: what the shutdown deadline gives back */
  const unanswered = new Map<string, string>();
  /** the shutdown deadline passed: requests still running are given back, their outcomes not recorded */
  let abandoned = false;
  const perEndpoint = new Map<string, number>();
  /** endpoint → delivery id → the running job's promise (see maybeDisable) */
  const running = new Map<string, Map<string, Promise<void>>>();
  let stopped = true;
  let pumping: Promise<void> | undefined;
  /** a pump loop is running (`pumping` is its promise, for stop() to wait on) */
  let pumpActive = false;
  let pumpAgain = false;
  let poll: NodeJS.Timeout | undefined;
  let renew: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;

  const key = (sealed: string): Buffer => {
    let k = keys.get(sealed);
    if (!k) {
      if (keys.size > 10_000) keys.clear();
      k = secretKey(deps.secrets.decrypt(sealed));
      keys.set(sealed, k);
    }
    return k;
  };

  // Group commit of outcomes: an outcome is written at once if no write is under way, else with every other
  // outcome that finished meanwhile, in the next statement. One commit per attempt was the bottleneck (each
  // waits its turn for a pooled connection and an fdatasync).
  let toRecord: {
    outcome: AttemptOutcome;
    done: (r: RecordedAttempt) => void;
    fail: (e: unknown) => void;
  }[] = [];
  let recording = false;
  const flushRecords = async (): Promise<void> => {
    recording = true;
    try {
      while (toRecord.length > 0) {
        const batch = toRecord.slice(0, MAX_RECORD_BATCH);
        toRecord = toRecord.slice(batch.length);
        try {
          const results = await recordWithRetry(batch.map((b) => b.outcome));
          batch.forEach((b, i) => {
            b.done(results[i] ?? { applied: false, failingSince: null });
          });
        } catch (err) {
          for (const b of batch) b.fail(err);
        }
      }
    } finally {
      recording = false;
    }
  };
  // An outcome that cannot be written is attempted again once its lease runs out (the webhook arrives twice,
  // its first attempt missing from the history): a dropped connection gets a few moments first. A write tried
  // again tolerates its own rows (the first try may have committed with only its answer lost).
  const recordWithRetry = (outcomes: AttemptOutcome[]): Promise<RecordedAttempt[]> =>
    retryThroughOutage((attempt) => recordAttempts(deps.db.query, outcomes, { again: attempt > 0 }));
  const record = (outcome: AttemptOutcome): Promise<RecordedAttempt> =>
    new Promise((done, fail) => {
      toRecord.push({ outcome, done, fail });
      if (!recording) void flushRecords();
    });

  /** `sent` is called once the endpoint has answered (or could not be reached): its slot is free again */
  const process = async (job: ClaimedJob, token: string, sent: () => void): Promise<void> => {
    // the child logger is made only when there is something to say (a successful attempt logs nothing)
    const log = () => deps.log.child({ deliveryId: job.id, attempt: job.attempt });
    const at = deps.clock.now();
    const base = {
      deliveryId: job.id,
      token,
      endpointId: job.endpoint_id,
      attemptId: newId('att', at.getTime()),
      attempt: job.attempt,
      at,
    };
    try {
      if (!job.enabled) {
        // disabled after this job was queued (or retried by hand): nothing is sent
        await record({
          ...base,
          statusCode: null,
          durationMs: 0,
          error: 'the endpoint is disabled; nothing was sent',
          responseBody: null,
          status: 'failed',
          nextAttemptAt: null,
          now: at,
          health: null,
        });
        metrics.deliveries.inc({ outcome: 'failed' });
        return;
      }
      const body = webhookBody(
        { id: job.event_id, type: job.type, created_at: job.created_at, appid: job.appid },
        job.data_json,
      );
      const timestamp = Math.floor(at.getTime() / 1000);
      const signing = [key(job.secret_enc)];
      for (const previous of job.previous_secrets)
        if (Date.parse(previous.expiresAt) > at.getTime()) signing.push(key(previous.secretEnc));
      const result = await sender.post(
        job.url,
        {
          'content-type': 'application/json',
          'user-agent': 'kefu-relay',
          'webhook-id': job.event_id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(signing, job.event_id, timestamp, body),
        },
        body,
      );
      sent();
      // cut by our own shutdown (its lease was given back): not the endpoint's failure, nothing to record
      if (abandoned) return;
      metrics.deliveryLatency.observe(result.durationMs / 1000);
      const now = deps.clock.now();
      const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
      let delay: number | null = null;
      if (!ok) {
        const honoursRetryAfter = result.statusCode === 429 || result.statusCode === 503;
        delay = nextAttemptDelay(
          job.attempt,
          schedule,
          honoursRetryAfter ? result.retryAfter : null,
          random(),
          now.getTime(),
        );
      }
      const status = ok ? 'succeeded' : delay === null ? 'failed' : 'pending';
      const outcome = await record({
        ...base,
        statusCode: result.statusCode,
        durationMs: result.durationMs,
        error: result.error,
        responseBody: result.body,
        status,
        nextAttemptAt: delay === null ? null : new Date(now.getTime() + delay),
        now,
        health: ok ? 'success' : 'failure',
      });
      metrics.deliveries.inc({ outcome: ok ? 'succeeded' : status === 'failed' ? 'failed' : 'retrying' });
      if (!outcome.applied) {
        log().warn('delivery lease was lost before the outcome was recorded; the attempt row is kept');
      } else if (!ok) {
        log().info(
          {
            statusCode: result.statusCode,
            error: result.error,
            nextAttemptInMs: delay,
            of: maxAttempts(schedule),
          },
          status === 'failed' ? 'delivery failed for good' : 'delivery attempt failed',
        );
      }
      if (!ok && outcome.failingSince) await maybeDisable(job, outcome.failingSince, now, log);
    } catch (err) {
      log().error({ err }, 'delivery attempt could not be recorded; the lease will expire and it is retried');
    }
  };

  const maybeDisable = async (job: ClaimedJob, failingSince: Date, now: Date, log: () => typeof deps.log) => {
    const cutoff = new Date(now.getTime() - config.endpointDisableAfterMs);
    if (failingSince > cutoff) return;
    const reason = `every attempt failed since ${failingSince.toISOString()}`;
    const disabled = await disableFailingEndpoint(deps.db.query, {
      endpointId: job.endpoint_id,
      reason,
      now,
      failingBefore: cutoff,
    });
    if (disabled) {
      metrics.endpointDisables.inc();
      log().warn({ endpointId: job.endpoint_id, failingSince }, 'webhook endpoint disabled');
      // Attempts of this endpoint still running here may write `pending` after the sweep that failed its pending
      // deliveries (their statement can read the endpoint as it was before the disable): sweep again once they
      // are done. (Another instance's stragglers are failed when they come due: the claim sees the disable.)
      const others = [...(running.get(job.endpoint_id) ?? [])].filter(([id]) => id !== job.id);
      if (others.length > 0) {
        await Promise.allSettled(others.map(([, p]) => p));
        await failPendingDeliveries(deps.db.query, job.endpoint_id, deps.clock.now());
      }
    }
  };

  // Refilling as attempts end, not only when woken or polled. `known` holds the endpoints this worker believes
  // have due rows: named by a NOTIFY from ingest, or left with rows by a claim that took all the room it had
  // for them (or was cut short by its limit). Polling and start also discover endpoints (`discover`). A claim
  // is worth one statement when an endpoint with work has room for a refill step (half its cap) and as many
  // slots are free, or when nothing is in flight: smaller refills cost a claim statement for a handful of rows,
  // and a NOTIFY for an endpoint at its cap would only cost a statement that finds no room. The busy counts a
  // claim is judged by are the ones it was given: attempts finishing while it runs do not hide that the cap
  // cut it short.
  const known = new Set<string>();
  /** endpoints named by a NOTIFY while a claim ran: that claim's snapshot may predate their new rows */
  const renamed = new Set<string>();
  let discover = false;

  const worthClaiming = (): boolean => {
    const free = concurrency - inFlight.size;
    if (free <= 0) return false;
    if (discover) return true;
    if (known.size === 0) return false;
    if (inFlight.size === 0) return true;
    // the cap a claim would apply now (claimDue's slots rule), over the endpoints busy or known to have work
    let idle = 0;
    for (const endpoint of known) if (!perEndpoint.has(endpoint)) idle++;
    const cap = sharedCap(perEndpoint.size + idle);
    const step = Math.max(1, cap >> 1);
    if (free < step) return false;
    for (const endpoint of known) if ((perEndpoint.get(endpoint) ?? 0) <= cap - step) return true;
    return false;
  };

  // The per-endpoint count is of requests to the endpoint: it drops as soon as the endpoint answered, while
  // the outcome waits for its group commit (the job still holds a slot of `concurrency` until it is written).
  const launch = (job: ClaimedJob, token: string): Promise<void> => {
    held.set(job.id, token);
    unanswered.set(job.id, token);
    perEndpoint.set(job.endpoint_id, (perEndpoint.get(job.endpoint_id) ?? 0) + 1);
    let answered = false;
    const sent = (): void => {
      if (answered) return;
      answered = true;
      unanswered.delete(job.id);
      const left = (perEndpoint.get(job.endpoint_id) ?? 1) - 1;
      if (left === 0) perEndpoint.delete(job.endpoint_id);
      else perEndpoint.set(job.endpoint_id, left);
    };
    const p: Promise<void> = process(job, token, sent).finally(() => {
      sent();
      held.delete(job.id);
      inFlight.delete(p);
      const mine = running.get(job.endpoint_id);
      mine?.delete(job.id);
      if (mine?.size === 0) running.delete(job.endpoint_id);
      // a claim under way re-checks worthClaiming() itself once it has launched its jobs
      if (!stopped && !pumpActive && worthClaiming()) pump();
    });
    inFlight.add(p);
    const mine = running.get(job.endpoint_id) ?? new Map<string, Promise<void>>();
    running.set(job.endpoint_id, mine.set(job.id, p));
    return p;
  };

  const claimAndLaunch = async (limit: number): Promise<Promise<void>[]> => {
    const token = randomUUID();
    const now = deps.clock.now();
    const busy = new Map(perEndpoint);
    const endpoints = [...known];
    const discovering = discover;
    discover = false;
    renamed.clear();
    let jobs: ClaimedJob[];
    try {
      jobs = await claimDue(deps.db.query, {
        now,
        leaseUntil: new Date(now.getTime() + leaseMs),
        token,
        limit,
        endpoints,
        discover: discovering || endpoints.length === 0,
        perEndpointCap: perEndpointMax,
        slots: concurrency,
        busy,
      });
    } catch (err) {
      if (discovering) discover = true;
      throw err;
    }
    const cutByLimit = jobs.length === limit;
    // with no job to say which cap it applied, the same rule over what this worker knows
    const cap = jobs[0]?.cap ?? sharedCap(new Set([...busy.keys(), ...endpoints]).size);
    const got = new Map<string, number>();
    for (const job of jobs) got.set(job.endpoint_id, (got.get(job.endpoint_id) ?? 0) + 1);
    for (const endpoint of new Set([...endpoints, ...got.keys()])) {
      // it may have rows left when the claim took all the room it had (or stopped at its limit)
      const room = cap - (busy.get(endpoint) ?? 0);
      if (cutByLimit || (got.get(endpoint) ?? 0) >= room) known.add(endpoint);
      else if (!renamed.has(endpoint)) known.delete(endpoint);
    }
    return jobs.map((job) => launch(job, token));
  };

  /** NOTIFY: the payload names the endpoints that have new deliveries; empty means "look everywhere". */
  const notified = (payload: string): void => {
    if (payload === '') discover = true;
    else
      for (const endpoint of payload.split(',')) {
        known.add(endpoint);
        renamed.add(endpoint);
      }
    if (pumpActive) pumpAgain = true;
    else if (worthClaiming()) pump();
  };

  const discoverAll = (): void => {
    discover = true;
    pump();
  };

  // `pump` claims at once (NOTIFY, poll, start), then keeps claiming while worthClaiming() says so.
  const pump = (): void => {
    if (stopped) return;
    if (pumpActive) {
      pumpAgain = true;
      return;
    }
    pumpActive = true;
    pumping = (async () => {
      try {
        do {
          pumpAgain = false;
          try {
            while (!stopped) {
              const free = concurrency - inFlight.size;
              if (free <= 0) break;
              await claimAndLaunch(Math.min(free, batchSize));
              if (!worthClaiming()) break;
            }
          } catch (err) {
            deps.log.error({ err }, 'claiming deliveries failed; polling tries again');
          }
        } while (pumpAgain && !stopped && worthClaiming());
      } finally {
        pumpActive = false;
      }
    })();
  };

  return {
    name: 'delivery-worker',
    batchSize,
    start() {
      if (!stopped) return;
      stopped = false;
      poll = setInterval(discoverAll, opts.pollIntervalMs ?? 1_000);
      poll.unref?.();
      if (renewsLeases) {
        renew = setInterval(
          () => {
            const now = deps.clock.now().getTime();
            renewLeases(deps.db.query, new Map(held), new Date(now + leaseMs)).catch((err: unknown) =>
              deps.log.warn({ err }, 'renewing delivery leases failed; tried again shortly'),
            );
          },
          opts.leaseRenewIntervalMs ?? leaseMs / 4,
        );
        renew.unref?.();
      }
      deps.db
        .listen(DELIVERIES_CHANNEL, notified)
        .then((off) => {
          if (stopped) void off().catch(() => {});
          else unlisten = off;
        })
        .catch((err: unknown) => deps.log.warn({ err }, 'LISTEN failed; deliveries are found by polling'));
      discoverAll();
    },
    wake: discoverAll,
    /** one claim of up to `batchSize` and every attempt of it, awaited (what tests call) */
    async runOnce() {
      discover = true;
      const launched = await claimAndLaunch(batchSize);
      await Promise.all(launched);
      return launched.length;
    },
    async stop(deadline: number) {
      stopped = true;
      clearInterval(poll);
      const off = unlisten;
      unlisten = undefined;
      await off?.().catch(() => {});
      const waitFor = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        // a claim under way when stop() came still launches its jobs: wait for it first, then for all of them
        (async () => {
          await pumping;
          await Promise.all([...inFlight]);
        })(),
        new Promise<void>((r) => {
          timer = setTimeout(r, waitFor);
        }),
      ]);
      clearTimeout(timer);
      clearInterval(renew);
      if (unanswered.size > 0) {
        // past the deadline: the requests still waiting for an answer are given back for another attempt
        abandoned = true;
        const giveBack = new Map(unanswered);
        deps.log.warn({ deliveries: giveBack.size }, 'shutdown deadline: giving back unanswered deliveries');
        await releaseLeases(deps.db.query, giveBack, deps.clock.now()).catch((err: unknown) =>
          deps.log.warn({ err }, 'giving back the leases failed; they lapse and are retried'),
        );
      }
      await sender.close().catch(() => {});
    },
  };
}

/** Leases, schedules and windows use each process's clock: past this much against the database, say so. */
const CLOCK_SKEW_WARN_MS = 2_000;

/**
 * Keeps the queue gauges current with one cheap query every few seconds, and the clock-skew gauge with the
 * database's now() it reads along (this process's clock, at the middle of the round trip, minus the database's).
 * A skew past 2 s is logged when it appears and when it is gone: instances whose clocks disagree by more than a
 * lease's margin take each other's jobs early (run NTP).
 */
export function createQueueStatsJob(deps: Deps, intervalMs = 5_000): BackgroundJob {
  let skewed = false;
  return intervalJob(
    'delivery-queue-stats',
    intervalMs,
    async () => {
      const now = deps.clock.now();
      const started = performance.now();
      const stats = await queueStats(deps.db.query, now);
      deps.metrics.queueDepth.set(stats.depth);
      deps.metrics.queueOldestDueAge.set(
        stats.oldestDueAt ? Math.max(0, (now.getTime() - stats.oldestDueAt.getTime()) / 1000) : 0,
      );
      if (stats.dbNow) {
        const skewMs = now.getTime() + (performance.now() - started) / 2 - stats.dbNow.getTime();
        deps.metrics.clockSkew.set(skewMs / 1000);
        const beyond = Math.abs(skewMs) > CLOCK_SKEW_WARN_MS;
        if (beyond !== skewed) {
          skewed = beyond;
          if (beyond)
            deps.log.warn(
              { skewMs: Math.round(skewMs) },
              "this process's clock disagrees with the database's: leases and schedules may misfire; sync the clocks (NTP)",
            );
          else
            deps.log.info(
              { skewMs: Math.round(skewMs) },
              "this process's clock agrees with the database's again",
            );
        }
      }
      return stats;
    },
    (err) => deps.log.warn({ err }, 'queue stats query failed; the gauges keep their last values'),
  );
}
