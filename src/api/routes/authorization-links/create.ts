import { createRoute, z } from '@hono/zod-openapi';
import type { Deps } from '../../../deps.js';
import { createAuthorizationLink } from '../../../onboarding/links.js';
import type { ApiApp } from '../../types.js';
import { fields, jsonBody, jsonResponse, problems } from '../../validation.js';

const httpUrl = fields.httpUrl;

const body = z
  .object({
    returnUrl: httpUrl.optional().openapi({ example: 'https://vendor.example/settings/wechat' }),
    appid: fields.appid
      .optional()
      .openapi({ description: 'restrict the link to this mini-program (biz_appid)' }),
    mobile: z
      .boolean()
      .optional()
      .openapi({ description: "WeChat's mobile authorization page (open in WeChat)" }),
    expiresIn: z
      .number()
      .int()
      .min(1)
      .max(2_592_000)
      .optional()
      .openapi({ description: 'seconds the link stays valid (default 7 days)', example: 604800 }),
  })
  .strict();

const LinkSchema = z
  .object({
    id: z.string().openapi({ example: 'aul_01JD0000000000000000000000' }),
    url: z.string().openapi({ example: 'https://kefu.example/connect/abc…' }),
    expiresAt: fields.instant,
  })
  .openapi('AuthorizationLink');

const create = createRoute({
  method: 'post',
  path: '/v1/authorization-links',
  operationId: 'createAuthorizationLink',
  tags: ['Onboarding'],
  summary: 'Create an authorization link for a mini-program administrator',
  security: [{ apiKey: [] }],
  request: { body: jsonBody(body) },
  responses: {
    201: jsonResponse(LinkSchema, 'The link; send its url to the administrator'),
    401: problems[401],
    413: problems[413],
    422: problems[422],
  },
});

export function registerAuthorizationLinkRoutes(app: ApiApp, deps: Deps): void {
  app.openapi(create, async (c) => {
    const ctx = { deps, log: c.get('log'), requestId: c.get('requestId'), tenantId: c.get('tenantId') };
    return c.json(await createAuthorizationLink(ctx, c.req.valid('json')), 201);
  });
}
