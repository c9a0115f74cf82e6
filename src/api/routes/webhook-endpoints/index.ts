import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';
import { registerCreateEndpointRoute } from './create.js';
import { registerReadEndpointRoutes } from './read.js';
import { registerReplayRoute } from './replay.js';
import { registerRotateSecretRoute } from './rotate-secret.js';
import { registerUpdateEndpointRoutes } from './update.js';

export function registerWebhookEndpointRoutes(app: ApiApp, deps: Deps): void {
  registerCreateEndpointRoute(app, deps);
  registerReadEndpointRoutes(app, deps);
  registerUpdateEndpointRoutes(app, deps);
  registerRotateSecretRoute(app, deps);
  registerReplayRoute(app, deps);
}
