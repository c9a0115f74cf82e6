import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { uploadImage } from '../../../messaging/media.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonResponse, wechatCallProblems } from '../../validation.js';
import {
  AppidParam,
  IdempotencyHeader,
  respondOnce,
  security,
  tags,
  tenantContext,
} from '../messages/shared.js';

const MediaSchema = z
  .object({
    mediaId: z.string(),
    type: z.literal('image'),
    createdAt: fields.instant,
    expiresAt: fields.instant.openapi({
      description: 'createdAt + 3 days: WeChat forgets temporary media then',
    }),
  })
  .openapi('Media');

const route = createRoute({
  method: 'post',
  path: '/v1/mini-programs/{appid}/media',
  operationId: 'uploadMedia',
  tags,
  summary: 'Upload an image (JPEG, PNG or GIF, at most 2 MiB) as temporary media',
  description:
    'The type is checked by content, not by the declared type; type and size are checked before upload.',
  security,
  request: {
    params: AppidParam,
    headers: IdempotencyHeader,
    body: {
      required: true,
      content: {
        'multipart/form-data': {
          schema: z.object({ file: z.any().openapi({ type: 'string', format: 'binary' }) }),
        },
      },
    },
  },
  responses: {
    201: jsonResponse(MediaSchema, 'WeChat stored the image'),
    ...wechatCallProblems,
  },
});

export function registerMediaRoute(app: ApiApp, deps: Deps): void {
  app.openapi(route, async (c) => {
    const ctx = tenantContext(c, deps);
    const { appid } = c.req.valid('param');
    const file = c.req.valid('form').file as unknown;
    if (!(file instanceof File)) {
      throw new AppError('validation_failed', 'Send the image as multipart/form-data in the field "file"', {
        errors: [{ path: 'file', message: 'is required and must be a file' }],
      });
    }
    // the bytes are the request for idempotency: the same image under the same key is the same upload
    const bytes =
      c.req.header('idempotency-key') === undefined ? null : Buffer.from(await file.arrayBuffer());
    const res = await respondOnce(c, ctx, bytes, async () => ({
      status: 201,
      body: await uploadImage(ctx, appid, file),
    }));
    return res as never;
  });
}
