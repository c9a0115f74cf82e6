import { createRoute, z } from '@hono/zod-openapi';
import { getDelivery, listDeliveries, retryDelivery } from '../../../delivery/deliveries.js';
import type { Deps } from '../../../deps.js';
import { encodeCursor, listQuery, pageRequest, pageSchema } from '../../pagination.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonResponse, problems, refuseBody } from '../../validation.js';
import { idParam, security, tenantContext } from '../webhook-endpoints/schemas.js';

const STATUSES = ['pending', 'succeeded', 'failed'] as const;

export const DeliverySchema = z
  .object({
    id: z.string().openapi({ example: 'dlv_01JD0000000000000000000000' }),
    eventId: z.string(),
    endpointId: z.string(),
    status: z.enum(STATUSES),
    attemptCount: z.number().int(),
    nextAttemptAt: fields.instant.nullable().openapi({ description: 'null unless pending' }),
    attempts: z.array(
      z.object({
        at: fields.instant,
        statusCode: z.number().int().nullable(),
        durationMs: z.number().int(),
        error: z.string().nullable(),
        responseBody: z
          .string()
          .max(1024)
          .nullable()
          .openapi({ description: 'the first 1 KiB of the response (whole UTF-8 characters)' }),
      }),
    ),
  })
  .openapi('Delivery');

const param = (name: string) => ({ param: { name, in: 'query' as const } });

const list = createRoute({
  method: 'get',
  path: '/v1/deliveries',
  operationId: 'listDeliveries',
  tags: ['Deliveries'],
  summary: 'List deliveries, newest first',
  security,
  request: {
    query: listQuery('dlv').extend({
      eventId: z.string().max(64).optional().openapi(param('eventId')),
      endpointId: z.string().max(64).optional().openapi(param('endpointId')),
      status: z.enum(STATUSES).optional().openapi(param('status')),
    }),
  },
  responses: {
    200: jsonResponse(pageSchema(DeliverySchema), 'A page of deliveries'),
    401: problems[401],
    422: problems[422],
  },
});

const read = createRoute({
  method: 'get',
  path: '/v1/deliveries/{id}',
  operationId: 'getDelivery',
  tags: ['Deliveries'],
  summary: 'Read a delivery and its attempts (oldest first)',
  security,
  request: { params: idParam },
  responses: { 200: jsonResponse(DeliverySchema, 'The delivery'), 401: problems[401], 404: problems[404] },
});

const retry = createRoute({
  method: 'post',
  path: '/v1/deliveries/{id}/retry',
  operationId: 'retryDelivery',
  tags: ['Deliveries'],
  summary: 'Attempt a delivery once more, now, whatever its status',
  security,
  request: { params: idParam },
  responses: {
    202: jsonResponse(DeliverySchema, 'The delivery, pending and due now'),
    401: problems[401],
    404: problems[404],
    422: problems[422],
  },
});

export function registerDeliveryRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(list, async (c) => {
    const query = c.req.valid('query');
    const page = pageRequest(query);
    const { rows, views } = await listDeliveries(
      tenantContext(c, deps),
      { eventId: query.eventId, endpointId: query.endpointId, status: query.status },
      page,
    );
    const last = views[views.length - 1];
    return c.json(
      { data: views, nextCursor: rows.length > page.limit && last ? encodeCursor(last.id) : null },
      200,
    );
  });
  app.openapi(read, async (c) =>
    c.json(await getDelivery(tenantContext(c, deps), c.req.valid('param').id), 200),
  );
  app.openapi(retry, async (c) => {
    await refuseBody(c);
    return c.json(await retryDelivery(tenantContext(c, deps), c.req.valid('param').id), 202);
  });
}
