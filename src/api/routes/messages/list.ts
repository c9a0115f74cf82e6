import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { listConversationMessages } from '../../../messaging/history.js';
import { listQuery, pageRequest, pageSchema, toPage } from '../../pagination.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonResponse, problems } from '../../validation.js';
import { AppidParam, security, tags, tenantContext } from './shared.js';

export const ConversationMessageSchema = z
  .object({
    id: z.string().openapi({ description: 'psh_… for inbound, msg_… for outbound' }),
    direction: z.enum(['inbound', 'outbound']),
    type: z.string().openapi({ description: 'the MsgType (inbound) or the message type sent (outbound)' }),
    openid: z.string(),
    createdAt: z
      .string()
      .openapi({ description: 'when kefu-relay received (inbound) or was asked to send (outbound)' }),
    msgId: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: 'inbound: WeChat MsgId (a string: it exceeds 2^53)' }),
    createTime: z.string().nullable().optional().openapi({ description: 'inbound: the push CreateTime' }),
    raw: z
      .record(z.string(), z.string())
      .optional()
      .openapi({ description: 'inbound: every field of the push' }),
    status: z.enum(['sent', 'failed', 'unknown']).optional().openapi({
      description: 'outbound: unknown = WeChat timed out after the request left (it may have been delivered)',
    }),
    sentAt: fields.instant.nullable().optional(),
    wechatErrcode: z.number().int().optional(),
    wechatErrmsg: z.string().optional(),
    text: z.object({ content: z.string() }).optional(),
    image: z.object({ mediaId: z.string().nullable(), picUrl: z.string().nullable().optional() }).optional(),
    link: z
      .object({ title: z.string(), description: z.string(), url: z.string(), thumbUrl: z.string() })
      .optional(),
    miniprogrampage: z.record(z.string(), z.string().nullable()).optional(),
  })
  .openapi('ConversationMessage');

const route = createRoute({
  method: 'get',
  path: '/v1/mini-programs/{appid}/messages',
  operationId: 'listMessages',
  tags,
  summary: "A user's conversation: inbound and outbound messages, newest first",
  security,
  request: { params: AppidParam, query: listQuery('psh', 'msg').extend({ openid: fields.openid }) },
  responses: {
    200: jsonResponse(pageSchema(ConversationMessageSchema), 'A page of messages'),
    401: problems[401],
    404: problems[404],
    422: problems[422],
  },
});

export function registerListMessagesRoute(app: ApiApp, deps: Deps): void {
  app.openapi(route, async (c) => {
    const { appid } = c.req.valid('param');
    const query = c.req.valid('query');
    const page = pageRequest(query);
    const { rows } = await listConversationMessages(tenantContext(c, deps), appid, query.openid, page);
    return c.json(toPage(rows, page.limit, (r) => r.item) as never, 200);
  });
}
