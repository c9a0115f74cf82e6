import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { setTyping } from '../../../messaging/typing.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonBody, wechatCallProblems } from '../../validation.js';
import {
  AppidParam,
  IdempotencyHeader,
  respondOnce,
  security,
  tags,
  tenantContext,
} from '../messages/shared.js';

const TypingSchema = z.object({ openid: fields.openid, typing: z.boolean() }).strict().openapi('Typing');

const route = createRoute({
  method: 'post',
  path: '/v1/mini-programs/{appid}/typing',
  operationId: 'setTyping',
  tags,
  summary: 'Show or cancel "typing…" to the user (Typing / CancelTyping)',
  description:
    'Neither needs nor uses the send allowance; WeChat requires a message exchange in the last 30 s.',
  security,
  request: { params: AppidParam, headers: IdempotencyHeader, body: jsonBody(TypingSchema) },
  responses: {
    204: { description: 'WeChat accepted the command' },
    ...wechatCallProblems,
  },
});

export function registerTypingRoute(app: ApiApp, deps: Deps): void {
  app.openapi(route, async (c) => {
    const ctx = tenantContext(c, deps);
    const { appid } = c.req.valid('param');
    const input = c.req.valid('json');
    const res = await respondOnce(c, ctx, input, async () => {
      await setTyping(ctx, appid, input);
      return { status: 204, body: null };
    });
    return res as never;
  });
}
