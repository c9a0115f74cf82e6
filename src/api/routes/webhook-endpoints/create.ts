import { createRoute, z } from '@hono/zod-openapi';
import { createEndpoint } from '../../../delivery/endpoints.js';
import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonBody, jsonResponse, problems } from '../../validation.js';
import {
  appidsField,
  EndpointWithSecretSchema,
  eventTypesField,
  security,
  tenantContext,
} from './schemas.js';

const CreateEndpointBody = z
  .object({
    url: fields.url,
    description: fields.description.optional(),
    eventTypes: eventTypesField.optional(),
    appids: appidsField.optional(),
  })
  .strict()
  .openapi('CreateEndpoint');

const create = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints',
  operationId: 'createWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Create a webhook endpoint',
  description:
    'The URL must be http(s); unless WEBHOOK_ALLOW_PRIVATE_NETWORKS, an address that is or resolves to a loopback, private, link-local or multicast range is refused. The secret is returned only here.',
  security,
  request: { body: jsonBody(CreateEndpointBody) },
  responses: {
    201: jsonResponse(EndpointWithSecretSchema, 'The endpoint, with its signing secret'),
    401: problems[401],
    413: problems[413],
    422: problems[422],
  },
});

export function registerCreateEndpointRoute(app: ApiApp, deps: Deps): void {
  app.openapi(create, async (c) =>
    c.json(await createEndpoint(tenantContext(c, deps), c.req.valid('json')), 201),
  );
}
