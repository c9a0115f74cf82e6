import { isIP } from 'node:net';
import { z } from 'zod';

/** No duration setting means more than a year; longer ones would overflow the dates computed from them. */
const MAX_DURATION_MS = 365 * 86_400_000;

/** Parses `<n>ms|s|m|h|d` (at most 365d) into milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration like 500ms, 5s, 5m, 2h or 5d`);
  const n = Number(match[1]);
  const unit = match[2] as 'ms' | 's' | 'm' | 'h' | 'd';
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit];
  const ms = n * factor;
  if (ms > MAX_DURATION_MS) throw new Error(`"${text}" is longer than the 365d a duration may be`);
  return ms;
}

// A name as DNS has them (letters, digits, hyphens, dots) or an IP address literal.
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export interface WindowSpec {
  /** messages allowed */
  count: number;
  /** window length in seconds */
  seconds: number;
}

/** Parses `<count>/<duration>` such as `1/60s` or `5/48h`. */
export function parseWindowSpec(text: string): WindowSpec {
  const match = /^(\d+)\/(.+)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a window like 1/60s or 5/48h`);
  const count = Number(match[1]);
  const ms = parseDuration(match[2] as string);
  if (count < 1) throw new Error(`"${text}": the count must be at least 1`);
  if (ms < 1000) throw new Error(`"${text}": the window must be at least 1s`);
  if (ms % 1000 !== 0) throw new Error(`"${text}": the window must be whole seconds`);
  return { count, seconds: ms / 1000 };
}

const duration = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

const windowSpec = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseWindowSpec(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (def: number, min: number, max: number) =>
  z
    .string()
    .default(String(def))
    .transform((v, ctx) => {
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return Number(v);
    });

const httpUrl = z
  .string()
  .url()
  .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL')
  .transform((v) => v.replace(/\/+$/, ''));

const encodingAesKey = z.string().regex(/^[A-Za-z0-9]{43}$/, 'must be the 43-character EncodingAESKey');

const masterKey = z.string().transform((v, ctx) => {
  const buf = Buffer.from(v, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(v) || buf.length !== 32) {
    ctx.addIssue({ code: 'custom', message: 'must be base64 of exactly 32 bytes (openssl rand -base64 32)' });
    return z.NEVER;
  }
  return buf;
});

const retrySchedule = z
  .string()
  .default('5s,5m,30m,2h,5h,10h,10h')
  .transform((v, ctx) => {
    try {
      const delays = v.split(',').map((part) => parseDuration(part));
      if (delays.length === 0 || delays.length > 50) throw new Error('give 1 to 50 delays');
      return delays;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .refine((v) => v === 'memory://' || /^postgres(ql)?:\/\//.test(v), 'must be postgres://… or memory://')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  HOST: z
    .string()
    .default('0.0.0.0')
    .refine((v) => isIP(v) !== 0 || HOSTNAME.test(v), 'must be an IP address or a host name'),
  PORT: int(3000, 0, 65535),
  PUBLIC_BASE_URL: httpUrl.optional(),
  WECHAT_COMPONENT_APPID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be the component appid (wx…)'),
  WECHAT_COMPONENT_APPSECRET: z.string().min(1),
  WECHAT_COMPONENT_TOKEN: z.string().min(1),
  WECHAT_COMPONENT_AES_KEY: encodingAesKey,
  WECHAT_COMPONENT_AES_KEY_PREVIOUS: encodingAesKey.optional(),
  WECHAT_API_BASE_URL: httpUrl.default('https://api.weixin.qq.com'),
  WECHAT_AUTH_PAGE_URL: httpUrl.default('https://mp.weixin.qq.com/cgi-bin/componentloginpage'),
  WECHAT_MOBILE_AUTH_PAGE_URL: httpUrl.default('https://open.weixin.qq.com/wxaopen/safe/bindcomponent'),
  ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters'),
  MASTER_KEY: masterKey,
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool(false),
  DELIVERY_RETRY_SCHEDULE: retrySchedule,
  DELIVERY_TIMEOUT_MS: int(15000, 100, 600_000),
  ENDPOINT_DISABLE_AFTER: duration('5d'),
  SEND_WINDOW_ENTER_SESSION: windowSpec('1/60s'),
  SEND_WINDOW_USER_MESSAGE: windowSpec('5/48h'),
  SEND_WINDOW_ENFORCE: bool(true),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: int(10000, 0, 600_000),
  // Additions beyond the contract's table, documented in the README.
  SHUTDOWN_DRAIN_MS: int(0, 0, 600_000),
  RUN_API: bool(true),
  RUN_WORKERS: bool(true),
  DB_POOL_MAX: int(10, 1, 200),
  INGEST_QUEUE_MAX: int(4096, 1, 1_000_000),
  DELIVERY_CONCURRENCY: int(128, 1, 1000),
  DELIVERY_CONCURRENCY_PER_ENDPOINT: int(64, 1, 1000),
  WECHAT_TIMEOUT_MS: int(5000, 100, 120_000),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  databaseUrl: string | undefined;
  dataDir: string;
  host: string;
  port: number;
  publicBaseUrl: string;
  wechat: {
    componentAppid: string;
    componentAppsecret: string;
    componentToken: string;
    componentAesKey: string;
    componentAesKeyPrevious: string | undefined;
    apiBaseUrl: string;
    authPageUrl: string;
    mobileAuthPageUrl: string;
    timeoutMs: number;
  };
  adminToken: string;
  masterKey: Buffer;
  webhookAllowPrivateNetworks: boolean;
  deliveryRetryScheduleMs: number[];
  deliveryTimeoutMs: number;
  deliveryConcurrency: number;
  /** requests in flight to one endpoint per process; never more than half of deliveryConcurrency */
  deliveryConcurrencyPerEndpoint: number;
  endpointDisableAfterMs: number;
  sendWindow: { enterSession: WindowSpec; userMessage: WindowSpec; enforce: boolean };
  logLevel: string;
  shutdownTimeoutMs: number;
  /** after the signal, how long the listener still serves while /readyz says 503 (load balancers move away) */
  shutdownDrainMs: number;
  runApi: boolean;
  runWorkers: boolean;
  dbPoolMax: number;
  /** pushes that may wait for a group-commit batch; more are answered 503 at once */
  ingestQueueMax: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; throws ConfigError naming every problem. Never echoes values (they may be secrets). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') present[key] = value;
  }
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      const message =
        issue.code === 'invalid_type' && present[name] === undefined ? 'is required' : issue.message;
      return `${name} ${message}`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  if (!e.RUN_API && !e.RUN_WORKERS)
    throw new ConfigError(['RUN_API and RUN_WORKERS are both false: this process would do nothing']);
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    host: e.HOST,
    port: e.PORT,
    publicBaseUrl: e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`,
    wechat: {
      componentAppid: e.WECHAT_COMPONENT_APPID,
      componentAppsecret: e.WECHAT_COMPONENT_APPSECRET,
      componentToken: e.WECHAT_COMPONENT_TOKEN,
      componentAesKey: e.WECHAT_COMPONENT_AES_KEY,
      componentAesKeyPrevious: e.WECHAT_COMPONENT_AES_KEY_PREVIOUS,
      apiBaseUrl: e.WECHAT_API_BASE_URL,
      authPageUrl: e.WECHAT_AUTH_PAGE_URL,
      mobileAuthPageUrl: e.WECHAT_MOBILE_AUTH_PAGE_URL,
      timeoutMs: e.WECHAT_TIMEOUT_MS,
    },
    adminToken: e.ADMIN_TOKEN,
    masterKey: e.MASTER_KEY,
    webhookAllowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    deliveryRetryScheduleMs: e.DELIVERY_RETRY_SCHEDULE,
    deliveryTimeoutMs: e.DELIVERY_TIMEOUT_MS,
    deliveryConcurrency: e.DELIVERY_CONCURRENCY,
    deliveryConcurrencyPerEndpoint: e.DELIVERY_CONCURRENCY_PER_ENDPOINT,
    endpointDisableAfterMs: e.ENDPOINT_DISABLE_AFTER,
    sendWindow: {
      enterSession: e.SEND_WINDOW_ENTER_SESSION,
      userMessage: e.SEND_WINDOW_USER_MESSAGE,
      enforce: e.SEND_WINDOW_ENFORCE,
    },
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    runApi: e.RUN_API,
    runWorkers: e.RUN_WORKERS,
    dbPoolMax: e.DB_POOL_MAX,
    ingestQueueMax: e.INGEST_QUEUE_MAX,
  };
}
