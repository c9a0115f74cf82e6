import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { getConversation } from '../../../messaging/conversation-view.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonResponse, problems } from '../../validation.js';
import { security, tags, tenantContext } from '../messages/shared.js';

const ConversationSchema = z
  .object({
    appid: z.string(),
    openid: z.string(),
    window: z.object({
      open: z.boolean(),
      remaining: z.number().int().openapi({ description: 'messages still allowed (0 when closed)' }),
      expiresAt: fields.instant
        .nullable()
        .openapi({ description: 'when the window closes (exclusive); null: never opened' }),
    }),
    lastInboundAt: fields.instant.nullable(),
    lastOutboundAt: fields.instant.nullable(),
  })
  .openapi('Conversation');

const route = createRoute({
  method: 'get',
  path: '/v1/mini-programs/{appid}/conversations/{openid}',
  operationId: 'getConversation',
  tags,
  summary: "A user's send window and last activity",
  security,
  request: {
    params: z.object({
      appid: fields.appid.openapi({ param: { name: 'appid', in: 'path' } }),
      openid: fields.openid.openapi({ param: { name: 'openid', in: 'path' } }),
    }),
  },
  responses: {
    200: jsonResponse(ConversationSchema, 'The conversation'),
    401: problems[401],
    404: problems[404],
    422: problems[422],
  },
});

export function registerConversationRoute(app: ApiApp, deps: Deps): void {
  app.openapi(route, async (c) => {
    const { appid, openid } = c.req.valid('param');
    return c.json(await getConversation(tenantContext(c, deps), appid, openid), 200);
  });
}
