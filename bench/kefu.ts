import { join } from 'node:path';
import { request } from 'undici';
import type { Database } from '../src/db/client.js';
import { SecretBox } from '../src/secrets.js';
import { type Child, freePort, startChild } from './proc.js';

// Starting kefu-relay as `npm start` does (its own process, configured by environment) and the minimum of
// setup a tenant would do: a tenant and key through the admin API, the mini-program binding (a fake of
// onboarding: one `authorizers` row), a webhook endpoint through the tenant API.

export const COMPONENT = {
  appid: 'wxbenchcomponent01',
  appsecret: 'bench-component-secret',
  token: 'benchcomponenttoken',
  aesKey: 'BenchEncodingAesKey0123456789abcdefghijklmn',
};
export const MINI_PROGRAM = {
  appid: 'wxbenchminiprog001',
  userName: 'gh_benchminiprog1',
  nickname: 'Bench Shop',
};

export interface KefuSettings {
  databaseUrl: string;
  wechatApiUrl: string;
  adminToken: string;
  masterKey: string;
  logLevel: string;
  logDir: string;
  /** when set, every instance writes a V8 CPU profile into <dir>/<instance name>/ at exit */
  cpuProfileDir?: string;
  /** the source tree kefu-relay runs from (see bench/source.ts) */
  root: string;
  /** its entry point there, from the start script (src/main.ts) */
  entry: string;
  /** the node flags of the start script (e.g. the heap limit) */
  nodeArgs: string[];
}

export interface KefuInstance {
  child: Child;
  url: string;
}

export function kefuEnv(
  s: KefuSettings,
  port: number,
  extra: Record<string, string>,
): Record<string, string> {
  return {
    DATABASE_URL: s.databaseUrl,
    HOST: '127.0.0.1',
    PORT: String(port),
    WECHAT_COMPONENT_APPID: COMPONENT.appid,
    WECHAT_COMPONENT_APPSECRET: COMPONENT.appsecret,
    WECHAT_COMPONENT_TOKEN: COMPONENT.token,
    WECHAT_COMPONENT_AES_KEY: COMPONENT.aesKey,
    WECHAT_API_BASE_URL: s.wechatApiUrl,
    ADMIN_TOKEN: s.adminToken,
    MASTER_KEY: s.masterKey,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    LOG_LEVEL: s.logLevel,
    ...passThrough(),
    ...extra,
  };
}

/** BENCH_KEFU_<NAME>=value sets <NAME> for every kefu-relay instance (e.g. BENCH_KEFU_DB_POOL_MAX=20), for tuning. */
function passThrough(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('BENCH_KEFU_') && v !== undefined) out[k.slice('BENCH_KEFU_'.length)] = v;
  }
  return out;
}

/**
 * The service as `npm start` runs it (see bench/source.ts); resolves once /healthz answers (after its
 * migrations), whatever the log level.
 */
export async function startKefu(
  name: string,
  s: KefuSettings,
  extra: Record<string, string> = {},
): Promise<KefuInstance> {
  const port = await freePort();
  const prof = s.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(s.cpuProfileDir, name)}`] : [];
  const flags = [...s.nodeArgs, ...prof];
  const child = startChild(name, s.entry, kefuEnv(s, port, extra), s.logDir, flags, s.root);
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 60_000;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`${name} exited before it was ready; see ${child.logFile}`);
    const ok = await request(`${url}/healthz`)
      .then(async (r) => {
        await r.body.text();
        return r.statusCode === 200;
      })
      .catch(() => false);
    if (ok) break;
    if (Date.now() > until)
      throw new Error(`${name}: /healthz did not answer within 60 s; see ${child.logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.readyRss = child.currentRss();
  return { child, url };
}

export interface JsonResponse {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

export async function call(
  base: string,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  opts: { token?: string; json?: unknown; body?: string } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${base}${path}`, {
    method,
    headers,
    body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.body,
  });
  const text = await res.body.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (e.g. `success`)
  }
  return { status: res.statusCode, body, text };
}

/** The app's 404 for a path no module has registered yet (a module's own 404 says something else). */
export function isMissingRoute(r: JsonResponse): boolean {
  return r.status === 404 && /No route for/.test(String(r.body.detail ?? ''));
}

export interface Tenant {
  tenantId: string;
  apiKey: string;
}

export async function createTenant(base: string, adminToken: string): Promise<Tenant> {
  const t = await call(base, 'POST', '/admin/tenants', { token: adminToken, json: { name: 'Bench tenant' } });
  if (t.status !== 201) throw new Error(`create tenant: ${t.status} ${t.text}`);
  const tenantId = String(t.body.id);
  const k = await call(base, 'POST', `/admin/tenants/${tenantId}/api-keys`, {
    token: adminToken,
    json: { name: 'bench' },
  });
  if (k.status !== 201) throw new Error(`create api key: ${k.status} ${k.text}`);
  return { tenantId, apiKey: String(k.body.key) };
}

/**
 * Binds the bench mini-program to the tenant as onboarding would leave it: authorized, permission set 19,
 * the user name the pushes carry, and an authorizer token (sealed with MASTER_KEY) that never expires.
 */
export async function bindMiniProgram(db: Database, tenantId: string, masterKey: string): Promise<void> {
  const box = new SecretBox(Buffer.from(masterKey, 'base64'));
  const now = new Date();
  await db.query(
    `insert into authorizers (appid, tenant_id, user_name, nickname, status, permissions, access_token_enc,
       access_token_expires_at, access_token_issued_at, refresh_token_enc, authorized_at, created_at, updated_at)
     values ($1, $2, $3, $4, 'authorized', '{19}', $5, $6, $7, $8, $7, $7, $7)
     on conflict (appid) do update set tenant_id = excluded.tenant_id, status = 'authorized'`,
    [
      MINI_PROGRAM.appid,
      tenantId,
      MINI_PROGRAM.userName,
      MINI_PROGRAM.nickname,
      box.encrypt('bench-authorizer-access-token'),
      new Date('2100-01-01T00:00:00Z'),
      now,
      box.encrypt('bench-authorizer-refresh-token'),
    ],
  );
}

/** The webhook endpoint, or null when the endpoints API has not landed. */
export async function createEndpoint(base: string, apiKey: string, url: string): Promise<string | null> {
  const r = await call(base, 'POST', '/v1/webhook-endpoints', {
    token: apiKey,
    json: { url, description: 'bench receiver' },
  });
  if (isMissingRoute(r)) return null;
  if (r.status !== 201) throw new Error(`create endpoint: ${r.status} ${r.text}`);
  return String(r.body.id);
}
