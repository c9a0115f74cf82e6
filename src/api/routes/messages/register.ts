import type { Deps } from '../../../deps.js';
import type { ApiApp } from '../../types.js';
import { registerConversationRoute } from '../conversations/read.js';
import { registerMediaRoute } from '../media/upload.js';
import { registerTypingRoute } from '../typing/set.js';
import { registerListMessagesRoute } from './list.js';
import { registerSendMessageRoute } from './send.js';

/** The reply API (http-api.md §4 Replies): send, typing, media, the conversation and its messages. */
export function registerMessagingRoutes(app: ApiApp, deps: Deps): void {
  registerSendMessageRoute(app, deps);
  registerListMessagesRoute(app, deps);
  registerTypingRoute(app, deps);
  registerMediaRoute(app, deps);
  registerConversationRoute(app, deps);
}
