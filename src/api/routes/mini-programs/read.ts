import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { getMiniProgram, listMiniPrograms } from '../../../onboarding/mini-programs.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonResponse, problems } from '../../validation.js';

export const MiniProgramSchema = z
  .object({
    appid: z.string().openapi({ example: 'wxf8b4f85f3a794e77' }),
    userName: z.string().nullable().openapi({ example: 'gh_97417a04a28d' }),
    nickname: z.string().nullable(),
    status: z.enum(['authorized', 'unauthorized', 'reauthorization_required']),
    permissions: z.array(z.number().int()).openapi({ example: [17, 18, 19] }),
    customerService: z.boolean().openapi({ description: 'permission set 19 (小程序客服管理) is granted' }),
    authorizedAt: fields.instant.nullable(),
    updatedAt: fields.instant,
  })
  .openapi('MiniProgram');

const security = [{ apiKey: [] }];

const list = createRoute({
  method: 'get',
  path: '/v1/mini-programs',
  operationId: 'listMiniPrograms',
  tags: ['Onboarding'],
  summary: "The tenant's mini-programs",
  security,
  responses: {
    200: jsonResponse(z.object({ data: z.array(MiniProgramSchema) }), 'Every mini-program of the tenant'),
    401: problems[401],
  },
});

const read = createRoute({
  method: 'get',
  path: '/v1/mini-programs/{appid}',
  operationId: 'getMiniProgram',
  tags: ['Onboarding'],
  summary: 'One mini-program',
  security,
  request: { params: z.object({ appid: fields.appid }) },
  responses: {
    200: jsonResponse(MiniProgramSchema, 'The mini-program'),
    401: problems[401],
    404: problems[404],
  },
});

export function registerMiniProgramRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(list, async (c) => {
    const ctx = { deps, log: c.get('log'), requestId: c.get('requestId'), tenantId: c.get('tenantId') };
    return c.json({ data: await listMiniPrograms(ctx) }, 200);
  });
  app.openapi(read, async (c) => {
    const ctx = { deps, log: c.get('log'), requestId: c.get('requestId'), tenantId: c.get('tenantId') };
    return c.json(await getMiniProgram(ctx, c.req.valid('param').appid), 200);
  });
}
