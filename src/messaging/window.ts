/**
 * Send windows (wechat-protocol.md §7) as pure functions. The database applies the same rules in SQL
 * (conversations.ts, allowance.ts); these are the reference the worked examples are tested against.
 */

/** = `config.sendWindow`: the allowance and window length each user action grants. */
export interface WindowLimits {
  enterSession: { count: number; seconds: number };
  userMessage: { count: number; seconds: number };
}

export type UserAction = 'enter_session' | 'user_message';

/** `deadline` in unix seconds, exclusive; null = no qualifying action yet (the spec's −∞). */
export interface WindowState {
  remaining: number;
  deadline: number | null;
}

export type SendCheck = 'ok' | 'send_window_closed' | 'send_limit_reached';

export function limitFor(action: UserAction, limits: WindowLimits): { count: number; seconds: number } {
  return action === 'enter_session' ? limits.enterSession : limits.userMessage;
}

/**
 * A qualifying user action at `t` (the push's CreateTime). Counts do not accumulate: the allowance becomes the
 * larger of what is left and the new limit while the window is still open, and the deadline the later end.
 */
export function applyAction(
  state: WindowState | null,
  action: UserAction,
  t: number,
  limits: WindowLimits,
): WindowState {
  const { count, seconds } = limitFor(action, limits);
  const end = t + seconds;
  if (!state || state.deadline === null) return { remaining: count, deadline: end };
  return {
    remaining: state.deadline > t ? Math.max(state.remaining, count) : count,
    deadline: Math.max(state.deadline, end),
  };
}

/** Closed is checked before the count: an expired window with allowance left is still closed. */
export function checkSend(state: WindowState | null, now: number): SendCheck {
  if (!state || state.deadline === null || now >= state.deadline) return 'send_window_closed';
  if (state.remaining <= 0) return 'send_limit_reached';
  return 'ok';
}

/** A successful send (also with enforcement off): one less, never below zero. */
export function afterSend(state: WindowState | null): WindowState | null {
  if (!state) return null;
  return { remaining: Math.max(0, state.remaining - 1), deadline: state.deadline };
}

/** WeChat is the authority: 45047 empties the allowance, 45015 closes the window now. */
export function afterWeChatRefusal(
  state: WindowState | null,
  code: 'send_limit_reached' | 'send_window_closed',
  now: number,
): WindowState {
  const base = state ?? { remaining: 0, deadline: null };
  return code === 'send_limit_reached' ? { ...base, remaining: 0 } : { ...base, deadline: now };
}

export function windowView(
  state: WindowState | null,
  now: number,
): { open: boolean; remaining: number; expiresAt: number | null } {
  const deadline = state?.deadline ?? null;
  const open = deadline !== null && now < deadline;
  return { open, remaining: open ? (state?.remaining ?? 0) : 0, expiresAt: deadline };
}
