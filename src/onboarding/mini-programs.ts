import type { RequestContext } from '../deps.js';
import { notFound } from '../errors.js';
import {
  AUTHORIZER_COLUMNS,
  type AuthorizerRow,
  type MiniProgram,
  renderMiniProgram,
} from './authorizers.js';

// A tenant's mini-programs (http-api.md §4). A row still waiting for api_get_authorizer_info (`pending`) is not
// shown: it becomes visible once its userName and nickname are stored.

export async function listMiniPrograms(ctx: RequestContext): Promise<MiniProgram[]> {
  const rows = await ctx.deps.db.query<AuthorizerRow>(
    `SELECT ${AUTHORIZER_COLUMNS} FROM authorizers WHERE tenant_id = $1 AND status <> 'pending'
     ORDER BY authorized_at DESC NULLS LAST, appid`,
    [ctx.tenantId],
  );
  return rows.map(renderMiniProgram);
}

export async function getMiniProgram(ctx: RequestContext, appid: string): Promise<MiniProgram> {
  const rows = await ctx.deps.db.query<AuthorizerRow>(
    `SELECT ${AUTHORIZER_COLUMNS} FROM authorizers WHERE tenant_id = $1 AND appid = $2 AND status <> 'pending'`,
    [ctx.tenantId, appid],
  );
  if (!rows[0]) throw notFound('Mini-program');
  return renderMiniProgram(rows[0]);
}
