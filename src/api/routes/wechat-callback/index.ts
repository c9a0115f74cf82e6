import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';
import { registerPushRoute } from './push.js';
import { registerVerifyUrlRoute } from './verify-url.js';

/** The 消息与事件接收URL: WeChat-facing, outside tenant auth; WeChat's signature is the authentication. */
export function registerIngestRoutes(app: ApiApp, deps: Deps): void {
  registerPushRoute(app, deps);
  registerVerifyUrlRoute(app, deps);
}
