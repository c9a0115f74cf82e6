import { createRoute, z } from '@hono/zod-openapi';
import { deleteEndpoint, updateEndpoint } from '../../../delivery/endpoints.js';
import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonBody, jsonResponse, problems } from '../../validation.js';
import { appidsField, EndpointSchema, eventTypesField, idParam, security, tenantContext } from './schemas.js';

const UpdateEndpointBody = z
  .object({
    url: fields.url.optional(),
    description: fields.description.optional(),
    eventTypes: eventTypesField.optional(),
    appids: appidsField.optional(),
    enabled: z.boolean().optional(),
  })
  .strict()
  .openapi('UpdateEndpoint');

const patch = createRoute({
  method: 'patch',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'updateWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Change a webhook endpoint',
  description:
    'Only the fields given change. `enabled: true` re-enables a disabled endpoint and clears `disabledReason`; `enabled: false` stops deliveries and fails the pending ones (replay them after re-enabling).',
  security,
  request: { params: idParam, body: jsonBody(UpdateEndpointBody) },
  responses: {
    200: jsonResponse(EndpointSchema, 'The endpoint'),
    401: problems[401],
    404: problems[404],
    413: problems[413],
    422: problems[422],
  },
});

const remove = createRoute({
  method: 'delete',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'deleteWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Delete a webhook endpoint (and its deliveries)',
  security,
  request: { params: idParam },
  responses: { 204: { description: 'Deleted' }, 401: problems[401], 404: problems[404] },
});

export function registerUpdateEndpointRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(patch, async (c) =>
    c.json(await updateEndpoint(tenantContext(c, deps), c.req.valid('param').id, c.req.valid('json')), 200),
  );
  app.openapi(remove, async (c) => {
    await deleteEndpoint(tenantContext(c, deps), c.req.valid('param').id);
    return c.body(null, 204);
  });
}
