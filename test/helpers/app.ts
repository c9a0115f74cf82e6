import { Writable } from 'node:stream';
import { createApp } from '../../src/app.js';
import { type Clock, ManualClock } from '../../src/clock.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { Deps } from '../../src/deps.js';
import { createLogger } from '../../src/log.js';
import { buildDeps } from '../../src/service.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef-0123456789';
export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
export const COMPONENT = {
  appid: 'wxcomponent0000001',
  appsecret: 'component-secret-for-tests',
  token: 'componenttoken',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

/** A valid configuration for tests; override any environment variable. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    DATABASE_URL: 'memory://',
    WECHAT_COMPONENT_APPID: COMPONENT.appid,
    WECHAT_COMPONENT_APPSECRET: COMPONENT.appsecret,
    WECHAT_COMPONENT_TOKEN: COMPONENT.token,
    WECHAT_COMPONENT_AES_KEY: COMPONENT.aesKey,
    ADMIN_TOKEN,
    MASTER_KEY: TEST_MASTER_KEY,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    PUBLIC_BASE_URL: 'http://kefu.test',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

/** Collects every log line written, for assertions such as "no secret was logged". */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestHarness {
  deps: Deps;
  app: ReturnType<typeof createApp>;
  database: TestDatabase;
  clock: Clock;
  logs: LogCapture;
  /** app.request with JSON and auth conveniences */
  request(path: string, init?: RequestInit & { json?: unknown; token?: string }): Promise<Response>;
  close(): Promise<void>;
}

/** A migrated database of its own, deps wired as in production, and the app; close() drops it all. */
export async function createHarness(
  opts: { env?: Record<string, string | undefined>; clock?: Clock; logLevel?: string } = {},
): Promise<TestHarness> {
  const database = await createTestDatabase();
  const config = testConfig(opts.env);
  const logs = new LogCapture();
  const log = createLogger({ level: opts.logLevel ?? 'debug', destination: logs });
  const clock = opts.clock ?? new ManualClock();
  const deps = buildDeps(config, { db: database.db, log, clock });
  const app = createApp(deps);
  return {
    deps,
    app,
    database,
    clock,
    logs,
    request: (path, init = {}) => {
      const { json, token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined) headers.set('content-type', 'application/json');
      if (token) headers.set('authorization', `Bearer ${token}`);
      return Promise.resolve(
        app.request(path, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body }),
      );
    },
    close: () => database.drop(),
  };
}

/** Creates a tenant and an API key through the admin API. */
export async function createTenantWithKey(
  h: TestHarness,
  name = 'Acme',
): Promise<{ tenantId: string; apiKey: string }> {
  const t = await h.request('/admin/tenants', { method: 'POST', json: { name }, token: ADMIN_TOKEN });
  if (t.status !== 201) throw new Error(`tenant: ${t.status} ${await t.text()}`);
  const tenant = (await t.json()) as { id: string };
  const k = await h.request(`/admin/tenants/${tenant.id}/api-keys`, {
    method: 'POST',
    json: {},
    token: ADMIN_TOKEN,
  });
  if (k.status !== 201) throw new Error(`key: ${k.status} ${await k.text()}`);
  const key = (await k.json()) as { key: string };
  return { tenantId: tenant.id, apiKey: key.key };
}
