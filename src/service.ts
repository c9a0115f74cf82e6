import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { createApp, createOpsApp } from './app.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { expectedMigrationCount, migrateDatabase } from './db/migrate.js';
import { createDeliveryWorker, createQueueStatsJob } from './delivery/worker.js';
import type { Deps } from './deps.js';
import { closeIngest } from './ingest/ingestor.js';
import type { BackgroundJob } from './jobs.js';
import { createLogger, type Logger } from './log.js';
import { idempotencyPurgeJob } from './messaging/idempotency.js';
import { closeRecorder } from './messaging/outbound.js';
import { createMetrics } from './metrics.js';
import { createOnboardingJobs } from './onboarding/jobs.js';
import { deriveKey, SecretBox } from './secrets.js';
import { WeChatClient } from './wechat/client.js';
import { WeChatCrypto } from './wechat/crypto.js';

export interface BuildDepsOptions {
  db: Database;
  log?: Logger;
  clock?: Clock;
  /** tests inject a client whose retry sleeps are instant */
  wechat?: WeChatClient;
}

/** The one place dependencies are wired; main.ts, the sandbox and the tests all come through here. */
export function buildDeps(config: Config, opts: BuildDepsOptions): Deps {
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics();
  return {
    config,
    db: opts.db,
    log,
    clock: opts.clock ?? systemClock,
    metrics,
    wechat:
      opts.wechat ??
      new WeChatClient({
        baseUrl: config.wechat.apiBaseUrl,
        timeoutMs: config.wechat.timeoutMs,
        logger: log.child({ component: 'wechat' }),
        onCall: (e) => metrics.wechatCalls.inc({ api: e.api, errcode: String(e.errcode ?? e.outcome) }),
      }),
    crypto: new WeChatCrypto({
      token: config.wechat.componentToken,
      encodingAesKey: config.wechat.componentAesKey,
      appid: config.wechat.componentAppid,
      previousEncodingAesKey: config.wechat.componentAesKeyPrevious,
    }),
    secrets: new SecretBox(config.masterKey),
    keys: {
      apiKeyHash: deriveKey(config.masterKey, 'api-key-hash'),
      oauthState: deriveKey(config.masterKey, 'oauth-state'),
      lookup: deriveKey(config.masterKey, 'lookup-hash'),
    },
    expectedMigrations: expectedMigrationCount(),
    lifecycle: { stopping: false, closing: false },
  };
}

/** The background jobs of every capability; each module contributes its own. */
export function createJobs(deps: Deps): BackgroundJob[] {
  return [createDeliveryWorker(deps), idempotencyPurgeJob(deps), ...createOnboardingJobs(deps)];
}

export interface RunningService {
  deps: Deps;
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Opens the database, migrates (under the advisory lock), then starts the API and/or the workers as configured.
 * A worker-only process (RUN_API=false) still listens on PORT, for /healthz, /readyz and /metrics only. Every
 * process keeps the queue gauges current (an API-only one too: /metrics must not say 0 over a backlog).
 * `stop()` first drains for SHUTDOWN_DRAIN_MS (the listener still serves, /readyz answers 503 and every response
 * closes its connection, so load balancers and keep-alive clients move away), then closes the listener
 * (in-flight requests finish), stops the jobs and closes the database, within SHUTDOWN_TIMEOUT_MS of the drain's
 * end; connections still open at that deadline are cut.
 */
export async function startService(
  config: Config,
  opts: Partial<BuildDepsOptions> = {},
): Promise<RunningService> {
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const db =
    opts.db ??
    (await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolMax: config.dbPoolMax }));
  await migrateDatabase(db);
  const deps = buildDeps(config, { db, log, clock: opts.clock });

  const app = config.runApi ? createApp(deps) : createOpsApp(deps);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
    // a port in use or an address this machine does not have: one clear line, not an uncaught error
    s.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${config.host}:${config.port}: ${err.code ?? err.message}`));
    });
  }).catch(async (err: unknown) => {
    await db.close().catch(() => {});
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const jobs = [...(config.runWorkers ? createJobs(deps) : []), createQueueStatsJob(deps)];
  for (const job of jobs) job.start();
  log.info({ port, api: config.runApi, jobs: jobs.map((j) => j.name), db: db.kind }, 'kefu-relay started');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      deps.lifecycle.stopping = true;
      if (config.shutdownDrainMs > 0) {
        log.info(
          { drainMs: config.shutdownDrainMs },
          'draining: /readyz answers 503 while requests are still served',
        );
        await new Promise((r) => setTimeout(r, config.shutdownDrainMs));
      }
      const deadline = Date.now() + config.shutdownTimeoutMs;
      deps.lifecycle.closing = true;
      const http = server as ServerType & {
        closeIdleConnections?: () => void;
        closeAllConnections?: () => void;
      };
      let open = true;
      const closed = new Promise<void>((resolve) => {
        http.close(() => {
          open = false;
          resolve();
        });
        // idle keep-alive sockets would hold close() open until the deadline
        http.closeIdleConnections?.();
      });
      await Promise.all([
        Promise.race([closed, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]),
        ...jobs.map((j) => j.stop(deadline)),
      ]);
      if (open) {
        log.warn('shutdown deadline passed with requests in flight; closing their connections');
        http.closeAllConnections?.();
      }
      await Promise.all([closeIngest(deps), closeRecorder(deps)]);
      await deps.wechat.close();
      await db.close();
      log.info('kefu-relay stopped');
    })();
    return stopping;
  };
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return { deps, url: `http://${host}:${port}`, port, stop };
}
