import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { adminAuth, tenantAuth } from './api/middleware/auth.js';
import { bodyLimits } from './api/middleware/body-limit.js';
import { requestContext } from './api/middleware/request-context.js';
import { withCommonResponses } from './api/openapi-common.js';
import { registerApiKeyRoutes } from './api/routes/admin/api-keys.js';
import { registerTenantRoutes } from './api/routes/admin/tenants.js';
import { registerDeliveryRoutes } from './api/routes/deliveries/index.js';
import { registerEventRoutes } from './api/routes/events/index.js';
import { registerMessagingRoutes } from './api/routes/messages/register.js';
import { registerHealthRoutes, registerOpsRoutes } from './api/routes/ops/health.js';
import { registerWebhookEndpointRoutes } from './api/routes/webhook-endpoints/index.js';
import { registerIngestRoutes } from './api/routes/wechat-callback/index.js';
import type { ApiApp, ApiEnv } from './api/types.js';
import { validationHook } from './api/validation.js';
import { isDatabaseUnavailable } from './db/errors.js';
import type { Deps } from './deps.js';
import { AppError, renderProblem } from './errors.js';
import { registerOnboardingRoutes } from './onboarding/routes/index.js';

/** Builds the HTTP app from its dependencies; nothing global, so tests build as many as they like. */
export function createApp(deps: Deps): ApiApp {
  const app: ApiApp = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });

  app.use('*', requestContext(deps));
  app.use('*', bodyLimits());
  app.use('/admin/*', adminAuth(deps));
  app.use('/v1/*', tenantAuth(deps));

  registerOpsRoutes(app, deps);
  registerTenantRoutes(app, deps);
  registerApiKeyRoutes(app, deps);
  registerWebhookEndpointRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerDeliveryRoutes(app, deps);
  registerOnboardingRoutes(app, deps);
  registerIngestRoutes(app, deps);
  registerMessagingRoutes(app, deps);

  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'ADMIN_TOKEN',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'A tenant API key (kr_…)',
  });
  const docConfig = {
    openapi: '3.1.0',
    info: {
      title: 'kefu-relay',
      version: '1',
      description: 'WeChat mini-program customer service for many tenants: onboarding, webhooks and replies.',
    },
  };
  // built on the first request (every route is registered by then) and kept: the routes do not change
  let document: object | undefined;
  app.get('/openapi.json', (c) => {
    document ??= withCommonResponses(app.getOpenAPI31Document(docConfig));
    return c.json(document);
  });

  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length > 0 && !allowed.includes(c.req.method)) {
      const res = renderProblem(c, new AppError('method_not_allowed', `${c.req.method} is not allowed here`));
      res.headers.set('allow', allowed.join(', '));
      return res;
    }
    return renderProblem(c, new AppError('not_found', `No route for ${c.req.method} ${c.req.path}`));
  });

  app.onError((err, c) => renderError(c, err));
  return app;
}

/**
 * What a worker-only process (RUN_API=false) serves on PORT: /healthz, /readyz and /metrics, so it can be
 * probed and scraped like any other; nothing a tenant or WeChat calls.
 */
export function createOpsApp(deps: Deps): ApiApp {
  const app: ApiApp = new OpenAPIHono<ApiEnv>();
  app.use('*', requestContext(deps));
  registerHealthRoutes(app, deps);
  app.notFound((c) =>
    renderProblem(
      c,
      new AppError('not_found', `No route for ${c.req.method} ${c.req.path} (a worker-only process)`),
    ),
  );
  app.onError((err, c) => renderError(c, err));
  return app;
}

function renderError(c: Context<ApiEnv>, err: unknown): Response {
  if (err instanceof AppError) return renderProblem(c, err);
  if (err instanceof HTTPException) {
    if (err.status === 413)
      return renderProblem(c, new AppError('payload_too_large', 'The request body is too large'));
    if (err.status === 400) {
      // hono's validators throw 400 for a body that is not JSON at all
      return renderProblem(
        c,
        new AppError('validation_failed', 'The request body is not valid JSON', {
          errors: [{ path: '', message: err.message || 'malformed JSON' }],
        }),
      );
    }
    if (err.status === 415) {
      // the media route alone takes multipart; every other body is JSON
      const media = /\/media$/.test(c.req.path);
      return renderProblem(
        c,
        new AppError(
          'validation_failed',
          media
            ? 'Send the image as multipart/form-data in the field "file"'
            : 'Send the body as JSON with Content-Type: application/json',
          { errors: [{ path: media ? 'file' : '', message: 'unsupported content type' }] },
        ),
      );
    }
    if (err.status === 401)
      return renderProblem(c, new AppError('unauthorized', err.message || 'Unauthorized'));
  }
  const log = c.get('log');
  if (isDatabaseUnavailable(err)) {
    log?.error({ err }, 'database unavailable');
    return renderProblem(
      c,
      new AppError('service_unavailable', 'The database is unavailable; try again shortly'),
    );
  }
  log?.error({ err }, 'unhandled error');
  return renderProblem(c, new AppError('internal', 'Something went wrong on our side'));
}

/** Methods registered for a path, to tell a 405 from a 404. */
function allowedMethods(app: ApiApp, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL' || route.path === '*' || route.path.endsWith('/*')) continue;
    const pattern = new RegExp(`^${route.path.replace(/:[^/]+/g, '[^/]+')}/?$`);
    if (pattern.test(path)) methods.add(route.method);
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods];
}
