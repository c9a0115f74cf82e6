import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isMigrated } from '../../../db/migrate.js';
import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';

const require = createRequire(import.meta.url);

/** Scalar's standalone bundle, served by us: no CDN (users in mainland China, offline tests). */
function scalarBundle(): string {
  return readFileSync(require.resolve('@scalar/api-reference/browser/standalone.js'), 'utf8');
}

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kefu-relay API reference</title></head>
<body><div id="app"></div>
<script src="/docs/scalar.js"></script>
<script>Scalar.createApiReference('#app', {
  url: '/openapi.json',
  // everything this page needs is served from here: no web fonts, no telemetry, no hosted agent or proxy
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  // Scalar's developer toolbar (shown on localhost) offers to upload this document to Scalar's hosted
  // registry, and the client button opens client.scalar.com: neither belongs on an offline page
  showDeveloperTools: 'never',
  hideClientButton: true,
});</script>
</body></html>`;

/** Liveness, readiness and metrics: what every process serves, a worker-only one included. */
export function registerHealthRoutes(app: ApiApp, deps: Deps): void {
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    // a load balancer stops sending here while the in-flight requests finish
    if (deps.lifecycle.stopping) return c.json({ status: 'unavailable', reason: 'shutting down' }, 503);
    try {
      if (await isMigrated(deps.db, deps.expectedMigrations)) return c.json({ status: 'ready' });
      return c.json({ status: 'unavailable', reason: 'migrations pending' }, 503);
    } catch (err) {
      c.get('log').warn({ err: (err as Error).message }, 'readiness check failed');
      return c.json({ status: 'unavailable', reason: 'database unreachable' }, 503);
    }
  });

  app.get('/metrics', async (c) => {
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { 'content-type': deps.metrics.registry.contentType });
  });
}

/** The health routes and the API reference (/docs with its bundle). */
export function registerOpsRoutes(app: ApiApp, deps: Deps): void {
  registerHealthRoutes(app, deps);

  let bundle: string | undefined;
  app.get('/docs', (c) => c.html(DOCS_HTML));
  app.get('/docs/scalar.js', (c) => {
    bundle ??= scalarBundle();
    return c.body(bundle, 200, {
      'content-type': 'application/javascript; charset=utf-8',
      'cache-control': 'public, max-age=86400',
    });
  });
}
