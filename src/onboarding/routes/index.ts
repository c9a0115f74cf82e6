import { secureHeaders } from 'hono/secure-headers';
import { registerAuthorizationLinkRoutes } from '../../api/routes/authorization-links/create.js';
import { registerMiniProgramRoutes } from '../../api/routes/mini-programs/read.js';
import type { ApiApp } from '../../api/types.js';
import type { Deps } from '../../deps.js';
import { registerAuthorizeCallbackRoute } from './authorize-callback.js';
import { registerComponentEventRoute } from './component.js';
import { registerConnectRoute } from './connect.js';

/** Every route of onboarding: WeChat's component events, the link flow, and the tenant's views. */
/**
 * The authorization pages hold no script and load nothing: a CSP that allows their inline style only, no
 * framing (the landing page's button must not be clickjacked), and `Referrer-Policy: origin`, since WeChat
 * serves its authorization page only to a browser coming from the platform's registered domain.
 */
const pageHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    styleSrc: ["'unsafe-inline'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  },
  referrerPolicy: 'origin',
  xFrameOptions: 'DENY',
  // the service may be reached over plain HTTP (the sandbox); HSTS is the TLS terminator's business
  strictTransportSecurity: false,
});

export function registerOnboardingRoutes(app: ApiApp, deps: Deps): void {
  app.use('/connect/*', pageHeaders);
  app.use('/wechat/authorize/callback', pageHeaders);
  registerComponentEventRoute(app, deps);
  registerConnectRoute(app, deps);
  registerAuthorizeCallbackRoute(app, deps);
  registerAuthorizationLinkRoutes(app, deps);
  registerMiniProgramRoutes(app, deps);
}
