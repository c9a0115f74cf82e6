import { registerAuthorizationLinkRoutes } from '../../api/routes/authorization-links/create.js';
import { registerMiniProgramRoutes } from '../../api/routes/mini-programs/read.js';
import type { ApiApp } from '../../api/types.js';
import type { Deps } from '../../deps.js';
import { registerAuthorizeCallbackRoute } from './authorize-callback.js';
import { registerComponentEventRoute } from './component.js';
import { registerConnectRoute } from './connect.js';

/** Every route of onboarding: WeChat's component events, the link flow, and the tenant's views. */
export function registerOnboardingRoutes(app: ApiApp, deps: Deps): void {
  registerComponentEventRoute(app, deps);
  registerConnectRoute(app, deps);
  registerAuthorizeCallbackRoute(app, deps);
  registerAuthorizationLinkRoutes(app, deps);
  registerMiniProgramRoutes(app, deps);
}
