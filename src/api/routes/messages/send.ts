import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { SendMessageSchema } from '../../../messaging/message-body.js';
import { sendMessage } from '../../../messaging/send.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonBody, jsonResponse, wechatCallProblems } from '../../validation.js';
import { AppidParam, IdempotencyHeader, respondOnce, security, tags, tenantContext } from './shared.js';

export const SentMessageSchema = z
  .object({
    id: z.string().openapi({ example: 'msg_01JD0000000000000000000000' }),
    appid: z.string(),
    openid: z.string(),
    type: z.enum(['text', 'image', 'link', 'miniprogrampage']),
    status: z.literal('sent'),
    sentAt: fields.instant,
  })
  .openapi('SentMessage');

const route = createRoute({
  method: 'post',
  path: '/v1/mini-programs/{appid}/messages',
  operationId: 'sendMessage',
  tags,
  summary: 'Send a customer-service message (text, image, link or mini-program card)',
  description:
    'Synchronous: the answer is what WeChat said. With SEND_WINDOW_ENFORCE a send outside the window is 409 ' +
    'send_window_closed and one past the allowance 429 send_limit_reached, without calling WeChat.',
  security,
  request: { params: AppidParam, headers: IdempotencyHeader, body: jsonBody(SendMessageSchema) },
  responses: {
    201: jsonResponse(SentMessageSchema, 'WeChat accepted the message'),
    ...wechatCallProblems,
  },
});

export function registerSendMessageRoute(app: ApiApp, deps: Deps): void {
  app.openapi(route, async (c) => {
    const ctx = tenantContext(c, deps);
    const { appid } = c.req.valid('param');
    const input = c.req.valid('json');
    const res = await respondOnce(c, ctx, input, async () => ({
      status: 201,
      body: await sendMessage(ctx, appid, input),
    }));
    // respondOnce renders the (possibly replayed) response itself; its shape is the 201 schema above
    return res as never;
  });
}
