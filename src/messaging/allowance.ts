import type { Query } from '../db/client.js';
import { readConversation, toWindowState } from './conversations.js';
import type { TakenAllowance } from './gate.js';
import { checkSend } from './window.js';

/*
 * The send allowance in SQL around the take itself, which is the conditional UPDATE in gate.ts's statement:
 * concurrent sends for the last message serialise on the row and only the first finds `remaining > 0`.
 */

/**
 * Why a send found no allowance to take (the conditional UPDATE of gate.ts matched no row): closed is checked
 * before the count, as in window.ts.
 */
export async function takeAllowanceRefusal(
  q: Query,
  appid: string,
  openid: string,
  now: Date,
): Promise<'send_window_closed' | 'send_limit_reached'> {
  const reason = checkSend(toWindowState(await readConversation(q, appid, openid)), now.getTime() / 1000);
  // A push may have reopened the window since the UPDATE: the send was still refused at the time it was
  // taken, and the limit is the honest reason then.
  return reason === 'ok' ? 'send_limit_reached' : reason;
}

/**
 * Returns a taken message when WeChat refused the send for a reason other than the window, so that the failed
 * send counts for nothing (wechat-protocol.md §7). Only into the window it was taken from, and never above
 * what that window had then: a push that moved the deadline meanwhile has reset the allowance itself
 * (`max(remaining, n)`), and adding the message on top would grant more than any action does.
 */
export async function giveBackAllowance(
  q: Query,
  appid: string,
  openid: string,
  taken: TakenAllowance,
): Promise<void> {
  await q(
    `update conversations set remaining = least(remaining + 1, $3::int)
      where appid = $1 and openid = $2 and deadline = $4`,
    [appid, openid, taken.remainingBefore, taken.deadline],
  );
}

/** WeChat is the authority: 45047 empties the local allowance, 45015 closes the local window now. */
export async function applyWeChatRefusal(
  q: Query,
  appid: string,
  openid: string,
  code: 'send_limit_reached' | 'send_window_closed',
  now: Date,
): Promise<void> {
  const sql =
    code === 'send_limit_reached'
      ? 'update conversations set remaining = 0, updated_at = $3 where appid = $1 and openid = $2'
      : 'update conversations set deadline = $3, updated_at = $3 where appid = $1 and openid = $2';
  await q(sql, [appid, openid, now]);
}
