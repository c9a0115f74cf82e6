import { createRoute } from '@hono/zod-openapi';
import { getEndpoint, listEndpoints, renderEndpoint } from '../../../delivery/endpoints.js';
import type { Deps } from '../../../deps.js';
import { listQuery, pageRequest, pageSchema, toPage } from '../../pagination.js';
import type { ApiApp } from '../../types.js';
import { jsonResponse, problems } from '../../validation.js';
import { EndpointSchema, idParam, security, tenantContext } from './schemas.js';

const list = createRoute({
  method: 'get',
  path: '/v1/webhook-endpoints',
  operationId: 'listWebhookEndpoints',
  tags: ['Webhook endpoints'],
  summary: 'List webhook endpoints, newest first',
  security,
  request: { query: listQuery('wep') },
  responses: {
    200: jsonResponse(pageSchema(EndpointSchema), 'A page of endpoints'),
    401: problems[401],
    422: problems[422],
  },
});

const read = createRoute({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'getWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Read a webhook endpoint',
  security,
  request: { params: idParam },
  responses: { 200: jsonResponse(EndpointSchema, 'The endpoint'), 401: problems[401], 404: problems[404] },
});

export function registerReadEndpointRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(list, async (c) => {
    const page = pageRequest(c.req.valid('query'));
    return c.json(toPage(await listEndpoints(tenantContext(c, deps), page), page.limit, renderEndpoint), 200);
  });
  app.openapi(read, async (c) =>
    c.json(renderEndpoint(await getEndpoint(tenantContext(c, deps), c.req.valid('param').id)), 200),
  );
}
