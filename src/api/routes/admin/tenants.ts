import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { createTenant, getTenant, listTenants, renderTenant } from '../../../tenants/service.js';
import { listQuery, pageRequest, pageSchema, toPage } from '../../pagination.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonBody, jsonResponse, problems } from '../../validation.js';

export const TenantSchema = z
  .object({
    id: z.string().openapi({ example: 'tnt_01JD0000000000000000000000' }),
    name: z.string(),
    createdAt: fields.instant,
  })
  .openapi('Tenant');

const security = [{ adminToken: [] }];

const create = createRoute({
  method: 'post',
  path: '/admin/tenants',
  operationId: 'createTenant',
  tags: ['Admin'],
  summary: 'Create a tenant',
  security,
  request: { body: jsonBody(z.object({ name: fields.name }).strict()) },
  responses: { 201: jsonResponse(TenantSchema, 'The tenant'), 401: problems[401], 422: problems[422] },
});

const list = createRoute({
  method: 'get',
  path: '/admin/tenants',
  operationId: 'listTenants',
  tags: ['Admin'],
  summary: 'List tenants, newest first',
  security,
  request: { query: listQuery('tnt') },
  responses: {
    200: jsonResponse(pageSchema(TenantSchema), 'A page of tenants'),
    401: problems[401],
    422: problems[422],
  },
});

const read = createRoute({
  method: 'get',
  path: '/admin/tenants/{id}',
  operationId: 'getTenant',
  tags: ['Admin'],
  summary: 'Read a tenant',
  security,
  request: { params: z.object({ id: z.string().max(64) }) },
  responses: { 200: jsonResponse(TenantSchema, 'The tenant'), 401: problems[401], 404: problems[404] },
});

export function registerTenantRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(create, async (c) => c.json(await createTenant(deps, c.req.valid('json')), 201));
  app.openapi(list, async (c) => {
    const page = pageRequest(c.req.valid('query'));
    return c.json(toPage(await listTenants(deps, page), page.limit, renderTenant), 200);
  });
  app.openapi(read, async (c) => c.json(renderTenant(await getTenant(deps, c.req.valid('param').id)), 200));
}
