import type { WindowLimit } from './options.js';
import type { WindowState } from './state.js';

/**
 * wechat-protocol.md §7: a qualifying action at `t` (the push's CreateTime) resets the allowance to the larger
 * of what is left and the action's limit, and the deadline to the later end. Counts never add up.
 */
export function applyWindowAction(w: WindowState, t: number, limit: WindowLimit): void {
  w.remaining = w.deadline > t ? Math.max(w.remaining, limit.count) : limit.count;
  w.deadline = Math.max(w.deadline, t + limit.seconds);
}

/** 0 when a send at `now` may go out; else WeChat's errcode (45015 closed is checked before 45047 used up). */
export function windowErrcode(w: WindowState, now: number): 0 | 45015 | 45047 {
  if (!(now < w.deadline)) return 45015;
  if (w.remaining <= 0) return 45047;
  return 0;
}

export function consumeWindow(w: WindowState): void {
  w.remaining = Math.max(0, w.remaining - 1);
}

export function windowView(w: WindowState, now: number) {
  const open = now < w.deadline;
  return {
    open,
    remaining: open ? w.remaining : 0,
    deadline: Number.isFinite(w.deadline) ? w.deadline : null,
  };
}
