import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { createApiKey, revokeApiKey } from '../../../tenants/api-keys.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonBody, jsonResponse, problems } from '../../validation.js';

const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    key: z.string().openapi({ description: 'Shown only in this response', example: 'kr_…' }),
    createdAt: fields.instant,
  })
  .openapi('CreatedApiKey');

const security = [{ adminToken: [] }];

const create = createRoute({
  method: 'post',
  path: '/admin/tenants/{id}/api-keys',
  operationId: 'createApiKey',
  tags: ['Admin'],
  summary: 'Create an API key for a tenant (the key is shown once)',
  security,
  request: {
    params: z.object({ id: z.string().max(64) }),
    body: { ...jsonBody(z.object({ name: fields.name.optional() }).strict()), required: false },
  },
  responses: {
    201: jsonResponse(ApiKeySchema, 'The new key'),
    401: problems[401],
    404: problems[404],
    422: problems[422],
  },
});

const revoke = createRoute({
  method: 'delete',
  path: '/admin/tenants/{id}/api-keys/{keyId}',
  operationId: 'revokeApiKey',
  tags: ['Admin'],
  summary: 'Revoke an API key; it stops working at once',
  security,
  request: { params: z.object({ id: z.string().max(64), keyId: z.string().max(64) }) },
  responses: { 204: { description: 'Revoked' }, 401: problems[401], 404: problems[404] },
});

export function registerApiKeyRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(create, async (c) => {
    const body = c.req.valid('json') as { name?: string } | undefined;
    return c.json(await createApiKey(deps, c.req.valid('param').id, body?.name ?? null), 201);
  });
  app.openapi(revoke, async (c) => {
    const { id, keyId } = c.req.valid('param');
    await revokeApiKey(deps, id, keyId);
    return c.body(null, 204);
  });
}
