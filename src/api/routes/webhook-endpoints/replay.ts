import { createRoute, z } from '@hono/zod-openapi';
import { replayEndpoint } from '../../../delivery/endpoints.js';
import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';
import { jsonBody, jsonResponse, problems } from '../../validation.js';
import { idParam, security, tenantContext } from './schemas.js';

/**
 * ISO 8601 (extended format): a date-time with Z or an offset, to the second (or finer) or to the minute, or a
 * date alone (its 00:00 UTC). Year 0000 is valid ISO but no PostgreSQL timestamp (there is no year 0 AD), so
 * the years run from 0001.
 */
const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.datetime({ offset: true, precision: -1 }), z.iso.date()], {
    error: (issue) =>
      issue.input === undefined
        ? 'is required'
        : 'must be an ISO 8601 date-time with Z or an offset (2026-12-01T08:00:00Z), or a date (2026-12-01)',
  })
  .refine((v) => new Date(v).getUTCFullYear() >= 1, 'must be in year 0001 or later')
  .openapi({ example: '2026-12-01T00:00:00Z' });

const ReplayBody = z
  .object({
    since: instant,
    until: instant.optional(),
    onlyFailed: z.boolean().optional().openapi({ description: 'default true' }),
  })
  .strict()
  .openapi('Replay');

const replay = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/replay',
  operationId: 'replayWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Deliver past events to this endpoint again',
  description:
    'Events of the tenant matching the endpoint’s filters with `since <= createdAt < until` get a new delivery. With `onlyFailed` (the default) only events without a succeeded or pending delivery to this endpoint.',
  security,
  request: { params: idParam, body: jsonBody(ReplayBody) },
  responses: {
    202: jsonResponse(
      z.object({ enqueued: z.number().int() }).openapi('ReplayResult'),
      'Deliveries enqueued',
    ),
    401: problems[401],
    404: problems[404],
    413: problems[413],
    422: problems[422],
  },
});

export function registerReplayRoute(app: ApiApp, deps: Deps): void {
  app.openapi(replay, async (c) => {
    const body = c.req.valid('json');
    const result = await replayEndpoint(tenantContext(c, deps), c.req.valid('param').id, {
      since: new Date(body.since),
      until: body.until ? new Date(body.until) : undefined,
      onlyFailed: body.onlyFailed,
    });
    return c.json(result, 202);
  });
}
