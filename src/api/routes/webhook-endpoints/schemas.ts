import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { EVENT_TYPES, type EventType } from '../../../delivery/outbox.js';
import type { Deps, RequestContext } from '../../../deps.js';
import type { ApiEnv } from '../../types.js';
import { fields } from '../../validation.js';

/** The service context of an authenticated tenant request. */
export function tenantContext(c: Context<ApiEnv>, deps: Deps): RequestContext {
  return { deps, log: c.get('log'), requestId: c.get('requestId'), tenantId: c.get('tenantId') };
}

export const security = [{ apiKey: [] }];

export const idParam = z.object({ id: z.string().max(64) });

export const eventTypesField = z
  .array(z.enum(EVENT_TYPES as [EventType, ...EventType[]]))
  .min(1)
  .max(EVENT_TYPES.length * 2)
  .nullable()
  .openapi({ description: 'event types to deliver; null (or absent) for all' });

export const appidsField = z
  .array(fields.appid)
  .min(1)
  .max(1000)
  .nullable()
  .openapi({ description: 'appids to deliver for (held or not, it is only a filter); null for all' });

export const EndpointSchema = z
  .object({
    id: z.string().openapi({ example: 'wep_01JD0000000000000000000000' }),
    url: z.string(),
    description: z.string(),
    eventTypes: z.array(z.string()).nullable(),
    appids: z.array(z.string()).nullable(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable(),
    createdAt: fields.instant,
    updatedAt: fields.instant,
  })
  .openapi('Endpoint');

export const EndpointWithSecretSchema = EndpointSchema.extend({
  secret: z
    .string()
    .openapi({ description: 'whsec_…; shown only here', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
}).openapi('EndpointWithSecret');
