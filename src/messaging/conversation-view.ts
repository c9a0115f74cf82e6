import type { RequestContext } from '../deps.js';
import { readConversation, toWindowState } from './conversations.js';
import { requireOwned } from './gate.js';
import { windowView } from './window.js';

export interface ConversationView {
  appid: string;
  openid: string;
  window: { open: boolean; remaining: number; expiresAt: string | null };
  lastInboundAt: string | null;
  lastOutboundAt: string | null;
}

/** The send window as a tenant should read it now (wechat-protocol.md §7 "Conversation view"). */
export async function getConversation(
  ctx: RequestContext,
  appid: string,
  openid: string,
): Promise<ConversationView> {
  const q = ctx.deps.db.query;
  await requireOwned(q, ctx.tenantId, appid);
  const row = await readConversation(q, appid, openid);
  const view = windowView(toWindowState(row), ctx.deps.clock.now().getTime() / 1000);
  return {
    appid,
    openid,
    window: {
      open: view.open,
      remaining: view.remaining,
      expiresAt: view.expiresAt === null ? null : new Date(view.expiresAt * 1000).toISOString(),
    },
    lastInboundAt: row?.lastInboundAt?.toISOString() ?? null,
    lastOutboundAt: row?.lastOutboundAt?.toISOString() ?? null,
  };
}
