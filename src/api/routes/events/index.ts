import { createRoute, z } from '@hono/zod-openapi';
import { getEvent, listEvents } from '../../../delivery/events.js';
import { EVENT_TYPES, type EventType, renderEvent } from '../../../delivery/outbox.js';
import type { Deps } from '../../../deps.js';
import { listQuery, pageRequest, pageSchema, toPage } from '../../pagination.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonResponse, problems } from '../../validation.js';
import { idParam, security, tenantContext } from '../webhook-endpoints/schemas.js';

export const EventSchema = z
  .object({
    id: z.string().openapi({ example: 'evt_01JD0000000000000000000000' }),
    type: z.string().openapi({ enum: [...EVENT_TYPES] }),
    createdAt: fields.instant,
    appid: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi('Event');

const EventWithDeliveriesSchema = EventSchema.extend({
  deliveries: z.array(
    z.object({
      id: z.string(),
      endpointId: z.string(),
      status: z.enum(['pending', 'succeeded', 'failed']),
      attemptCount: z.number().int(),
    }),
  ),
}).openapi('EventWithDeliveries');

const list = createRoute({
  method: 'get',
  path: '/v1/events',
  operationId: 'listEvents',
  tags: ['Events'],
  summary: 'List events, newest first',
  security,
  request: {
    query: listQuery('evt').extend({
      appid: fields.appid.optional().openapi({ param: { name: 'appid', in: 'query' } }),
      type: z
        .enum(EVENT_TYPES as [EventType, ...EventType[]])
        .optional()
        .openapi({ param: { name: 'type', in: 'query' } }),
    }),
  },
  responses: {
    200: jsonResponse(pageSchema(EventSchema), 'A page of events'),
    401: problems[401],
    422: problems[422],
  },
});

const read = createRoute({
  method: 'get',
  path: '/v1/events/{id}',
  operationId: 'getEvent',
  tags: ['Events'],
  summary: 'Read an event and a summary of its deliveries',
  security,
  request: { params: idParam },
  responses: {
    200: jsonResponse(EventWithDeliveriesSchema, 'The event'),
    401: problems[401],
    404: problems[404],
  },
});

export function registerEventRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(list, async (c) => {
    const query = c.req.valid('query');
    const page = pageRequest(query);
    const rows = await listEvents(tenantContext(c, deps), { appid: query.appid, type: query.type }, page);
    return c.json(toPage(rows, page.limit, renderEvent), 200);
  });
  app.openapi(read, async (c) =>
    c.json(await getEvent(tenantContext(c, deps), c.req.valid('param').id), 200),
  );
}
