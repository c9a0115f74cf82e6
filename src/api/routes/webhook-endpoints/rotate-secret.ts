import { createRoute, z } from '@hono/zod-openapi';
import { rotateEndpointSecret } from '../../../delivery/endpoints.js';
import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';
import { jsonResponse, problems, refuseBody } from '../../validation.js';
import { idParam, security, tenantContext } from './schemas.js';

const rotate = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/rotate-secret',
  operationId: 'rotateWebhookEndpointSecret',
  tags: ['Webhook endpoints'],
  summary: 'Rotate the signing secret',
  description:
    'Returns the new secret. For 24 h every webhook carries two signatures (new and old), so receivers can switch over without losing a delivery.',
  security,
  request: { params: idParam },
  responses: {
    200: jsonResponse(z.object({ secret: z.string() }).openapi('RotatedSecret'), 'The new secret'),
    401: problems[401],
    404: problems[404],
    422: problems[422],
  },
});

export function registerRotateSecretRoute(app: ApiApp, deps: Deps): void {
  app.openapi(rotate, async (c) => {
    await refuseBody(c);
    return c.json(await rotateEndpointSecret(tenantContext(c, deps), c.req.valid('param').id), 200);
  });
}
