import type { RequestContext } from '../deps.js';
import { withAuthorizerToken } from '../onboarding/authorizer-tokens.js';
import { requireSendable } from './gate.js';
import { wechatFailure } from './wechat-failure.js';

/**
 * Typing / CancelTyping (wechat-protocol.md §5.2). It neither needs nor uses the local allowance: WeChat's
 * own rules (an exchange within 30 s, not already typing) decide, and its errcodes are the answer.
 */
export async function setTyping(
  ctx: RequestContext,
  appid: string,
  input: { openid: string; typing: boolean },
): Promise<void> {
  const { deps } = ctx;
  await requireSendable(deps.db.query, ctx.tenantId, appid);
  const command = input.typing ? 'Typing' : 'CancelTyping';
  try {
    await withAuthorizerToken(deps, appid, (token) => deps.wechat.typing(token, input.openid, command));
  } catch (err) {
    throw wechatFailure(err) ?? err;
  }
}
