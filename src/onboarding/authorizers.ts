import type { Query } from '../db/client.js';

export type AuthorizerStatus = 'pending' | 'authorized' | 'unauthorized' | 'reauthorization_required';

/** What ingest and messaging need to know about an authorizer, read per push / per send. */
export interface AuthorizerRecord {
  appid: string;
  tenantId: string | null;
  userName: string | null;
  nickname: string | null;
  status: AuthorizerStatus;
  permissions: number[];
}

/** The columns of `authorizers` that make a MiniProgram (raw query row, snake_case). */
export interface AuthorizerRow {
  appid: string;
  tenant_id: string | null;
  user_name: string | null;
  nickname: string | null;
  status: string;
  permissions: number[];
  authorized_at: Date | null;
  updated_at: Date;
}

/** http-api.md §4 MiniProgram; also the data of authorizer.authorized / authorizer.updated events. */
export interface MiniProgram {
  appid: string;
  userName: string | null;
  nickname: string | null;
  status: 'authorized' | 'unauthorized' | 'reauthorization_required';
  permissions: number[];
  customerService: boolean;
  authorizedAt: string | null;
  updatedAt: string;
}

/** Permission set 19 = 小程序客服管理 (customer-service messages). */
export const CUSTOMER_SERVICE_PERMISSION = 19;

export const AUTHORIZER_COLUMNS =
  'appid, tenant_id, user_name, nickname, status, permissions, authorized_at, updated_at';

const FIND_AUTHORIZER = `SELECT appid, tenant_id, user_name, nickname, status, permissions
FROM authorizers WHERE appid = $1`;

export async function findAuthorizer(q: Query, appid: string): Promise<AuthorizerRecord | null> {
  const rows = await q<{
    appid: string;
    tenant_id: string | null;
    user_name: string | null;
    nickname: string | null;
    status: AuthorizerStatus;
    permissions: number[] | null;
  }>(FIND_AUTHORIZER, [appid]);
  const r = rows[0];
  if (!r) return null;
  return {
    appid: r.appid,
    tenantId: r.tenant_id,
    userName: r.user_name,
    nickname: r.nickname,
    status: r.status,
    permissions: r.permissions ?? [],
  };
}

export function renderMiniProgram(row: AuthorizerRow): MiniProgram {
  const permissions = [...(row.permissions ?? [])].sort((a, b) => a - b);
  // A row still waiting for api_get_authorizer_info is not yet "authorized" to the outside world.
  const status = row.status === 'pending' ? 'unauthorized' : (row.status as MiniProgram['status']);
  return {
    appid: row.appid,
    userName: row.user_name,
    nickname: row.nickname,
    status,
    permissions,
    customerService: permissions.includes(CUSTOMER_SERVICE_PERMISSION),
    authorizedAt: row.authorized_at ? row.authorized_at.toISOString() : null,
    updatedAt: row.updated_at.toISOString(),
  };
}
