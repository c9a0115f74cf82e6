import { randomBytes } from 'node:crypto';
import type { TestHarness } from '../../helpers/app.js';
import { createTenantWithKey } from '../../helpers/app.js';

export interface HeldMiniProgram {
  tenantId: string;
  apiKey: string;
  appid: string;
  userName: string;
}

export const freshAppid = () => `wx${randomBytes(8).toString('hex')}`;
export const freshOpenid = () => `o${randomBytes(12).toString('base64url')}`;

/**
 * A tenant holding a mini-program, as onboarding leaves it (status authorized, user_name stored). The
 * onboarding flow itself is exercised end to end with the simulator in e2e.test.ts.
 */
export async function seedHeldMiniProgram(
  h: TestHarness,
  opts: { appid?: string; userName?: string; tenant?: { tenantId: string; apiKey: string } } = {},
): Promise<HeldMiniProgram> {
  const tenant = opts.tenant ?? (await createTenantWithKey(h));
  const appid = opts.appid ?? freshAppid();
  const userName = opts.userName ?? `gh_${randomBytes(6).toString('hex')}`;
  await h.deps.db.query(
    `INSERT INTO authorizers (appid, tenant_id, user_name, nickname, status, permissions, authorized_at)
     VALUES ($1, $2, $3, 'Shop', 'authorized', '{17,18,19}', now())`,
    [appid, tenant.tenantId, userName],
  );
  return { ...tenant, appid, userName };
}

/** An enabled endpoint row matching everything (the outbox only reads its filters). */
export async function seedEndpoint(h: TestHarness, tenantId: string): Promise<string> {
  const id = `wep_${randomBytes(8).toString('hex')}`;
  await h.deps.db.query(
    `INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc) VALUES ($1, $2, 'http://127.0.0.1:9/hook', $3)`,
    [id, tenantId, h.deps.secrets.encrypt(`whsec_${randomBytes(24).toString('base64')}`)],
  );
  return id;
}

export async function countRows(
  h: TestHarness,
  table: string,
  where: string,
  params: unknown[],
): Promise<number> {
  const rows = await h.deps.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
    params,
  );
  return rows[0]?.n ?? 0;
}
