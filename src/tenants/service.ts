import { and, desc, eq, lt } from 'drizzle-orm';
import type { PageRequest } from '../api/pagination.js';
import { tenants } from '../db/schema/index.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import { newId } from '../ids.js';

export interface TenantView {
  id: string;
  name: string;
  createdAt: string;
}

type TenantRow = typeof tenants.$inferSelect;

export const renderTenant = (row: TenantRow): TenantView => ({
  id: row.id,
  name: row.name,
  createdAt: row.createdAt.toISOString(),
});

export async function createTenant(deps: Deps, input: { name: string }): Promise<TenantView> {
  const now = deps.clock.now();
  const [row] = await deps.db.orm
    .insert(tenants)
    .values({ id: newId('tnt', now.getTime()), name: input.name, createdAt: now })
    .returning();
  return renderTenant(row!);
}

export async function listTenants(deps: Deps, page: PageRequest): Promise<TenantRow[]> {
  return deps.db.orm
    .select()
    .from(tenants)
    .where(page.before ? lt(tenants.id, page.before) : undefined)
    .orderBy(desc(tenants.id))
    .limit(page.limit + 1);
}

export async function getTenant(deps: Deps, id: string): Promise<TenantRow> {
  const [row] = await deps.db.orm
    .select()
    .from(tenants)
    .where(and(eq(tenants.id, id)));
  if (!row) throw notFound('Tenant');
  return row;
}
