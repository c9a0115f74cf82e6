import { describe, expect, it } from 'vitest';
import {
  afterSend,
  afterWeChatRefusal,
  applyAction,
  checkSend,
  type SendCheck,
  type WindowLimits,
  type WindowState,
  windowView,
} from '../../../src/messaging/window.js';

const DEFAULTS: WindowLimits = {
  enterSession: { count: 1, seconds: 60 },
  userMessage: { count: 5, seconds: 172_800 },
};

type Step = ['enter' | 'msg' | 'typing' | 'send', number];

/** Replays a worked example: actions change the state, sends are checked and decrement when allowed. */
function replay(steps: Step[], limits = DEFAULTS): { outcomes: SendCheck[]; states: (WindowState | null)[] } {
  let state: WindowState | null = null;
  const outcomes: SendCheck[] = [];
  const states: (WindowState | null)[] = [];
  for (const [op, t] of steps) {
    if (op === 'enter') state = applyAction(state, 'enter_session', t, limits);
    else if (op === 'msg') state = applyAction(state, 'user_message', t, limits);
    else if (op === 'send') {
      const outcome = checkSend(state, t);
      outcomes.push(outcome);
      if (outcome === 'ok') state = afterSend(state);
    }
    // typing neither requires nor consumes the allowance: nothing changes
    states.push(state);
  }
  return { outcomes, states };
}

const sends = (from: number, to: number): Step[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ['send', from + i] as Step);

describe('send window: worked examples of wechat-protocol.md §7', () => {
  it('#1 no action yet is closed; entering the session allows one; the second is over the limit', () => {
    const { outcomes, states } = replay([
      ['send', 0],
      ['enter', 5],
      ['send', 10],
      ['send', 20],
    ]);
    expect(outcomes).toEqual(['send_window_closed', 'ok', 'send_limit_reached']);
    expect(states).toEqual([
      null,
      { remaining: 1, deadline: 65 },
      { remaining: 0, deadline: 65 },
      { remaining: 0, deadline: 65 },
    ]);
  });

  it('#1 with SEND_WINDOW_ENTER_SESSION=2/60s: the send@20 goes out too and a third is refused', () => {
    const limits = { ...DEFAULTS, enterSession: { count: 2, seconds: 60 } };
    const { outcomes } = replay(
      [
        ['send', 0],
        ['enter', 5],
        ['send', 10],
        ['send', 20],
        ['send', 30],
      ],
      limits,
    );
    expect(outcomes).toEqual(['send_window_closed', 'ok', 'ok', 'send_limit_reached']);
  });

  it('#2 the deadline is exclusive: send@60 after enter@0 is closed, send@59 would go out', () => {
    expect(
      replay([
        ['enter', 0],
        ['send', 60],
      ]).outcomes,
    ).toEqual(['send_window_closed']);
    expect(
      replay([
        ['enter', 0],
        ['send', 59],
      ]).outcomes,
    ).toEqual(['ok']);
    expect(applyAction(null, 'enter_session', 0, DEFAULTS)).toEqual({ remaining: 1, deadline: 60 });
  });

  it('#3 a user message allows five; the sixth is refused; a new message resets to five', () => {
    const { outcomes, states } = replay([
      ['msg', 0],
      ...sends(1, 5),
      ['send', 6],
      ['msg', 100],
      ['send', 101],
    ]);
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'send_limit_reached', 'ok']);
    expect(states[0]).toEqual({ remaining: 5, deadline: 172_800 });
    expect(states[6]).toEqual({ remaining: 0, deadline: 172_800 });
    expect(states[7]).toEqual({ remaining: 5, deadline: 172_900 });
    expect(states[8]).toEqual({ remaining: 4, deadline: 172_900 });
  });

  it('#4 two messages are not cumulative (5, not 10) and typing changes nothing', () => {
    const { outcomes, states } = replay([
      ['msg', 0],
      ['msg', 10],
      ['typing', 11],
      ...sends(12, 16),
      ['send', 17],
    ]);
    expect(states[1]).toEqual({ remaining: 5, deadline: 172_810 });
    expect(states[2]).toEqual({ remaining: 5, deadline: 172_810 });
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'send_limit_reached']);
    expect(states.at(-1)).toEqual({ remaining: 0, deadline: 172_810 });
  });

  it('#5 the enter-session count lives until the longer deadline', () => {
    const { outcomes, states } = replay([
      ['enter', 0],
      ['msg', 30],
      ...sends(31, 34),
      ['enter', 3600],
      ['send', 3601],
      ['enter', 7200],
      ['send', 100_000],
    ]);
    expect(outcomes.every((o) => o === 'ok')).toBe(true);
    expect(outcomes).toHaveLength(6);
    expect(states[0]).toEqual({ remaining: 1, deadline: 60 });
    expect(states[1]).toEqual({ remaining: 5, deadline: 172_830 });
    expect(states[5]).toEqual({ remaining: 1, deadline: 172_830 });
    expect(states[6]).toEqual({ remaining: 1, deadline: 172_830 });
    expect(states[7]).toEqual({ remaining: 0, deadline: 172_830 });
    expect(states[8]).toEqual({ remaining: 1, deadline: 172_830 });
    expect(states[9]).toEqual({ remaining: 0, deadline: 172_830 });
  });

  it('#6 an expired window restarts from the new limit; closed wins over the count at the deadline', () => {
    const { outcomes, states } = replay([
      ['msg', 0],
      ['enter', 172_900],
      ['send', 172_901],
      ['send', 172_902],
      ['send', 172_960],
    ]);
    expect(states[0]).toEqual({ remaining: 5, deadline: 172_800 });
    expect(windowView(states[0] ?? null, 172_900)).toEqual({ open: false, remaining: 0, expiresAt: 172_800 });
    expect(states[1]).toEqual({ remaining: 1, deadline: 172_960 });
    expect(outcomes).toEqual(['ok', 'send_limit_reached', 'send_window_closed']);
    expect(states.at(-1)).toEqual({ remaining: 0, deadline: 172_960 });
  });
});

describe('send window: the other rules', () => {
  it('an action on a state with no deadline yet starts from the limit', () => {
    expect(applyAction({ remaining: 3, deadline: null }, 'user_message', 10, DEFAULTS)).toEqual({
      remaining: 5,
      deadline: 172_810,
    });
  });

  it('closed is reported before the count when both hold', () => {
    expect(checkSend({ remaining: 0, deadline: 50 }, 50)).toBe('send_window_closed');
    expect(checkSend({ remaining: 0, deadline: 50 }, 49)).toBe('send_limit_reached');
    expect(checkSend({ remaining: 2, deadline: null }, 0)).toBe('send_window_closed');
  });

  it('a send never takes the allowance below zero (enforcement off)', () => {
    expect(afterSend({ remaining: 0, deadline: 10 })).toEqual({ remaining: 0, deadline: 10 });
    expect(afterSend(null)).toBeNull();
  });

  it("WeChat's 45047 empties the allowance and 45015 closes the window at once", () => {
    const open = { remaining: 3, deadline: 1000 };
    expect(afterWeChatRefusal(open, 'send_limit_reached', 10)).toEqual({ remaining: 0, deadline: 1000 });
    expect(afterWeChatRefusal(open, 'send_window_closed', 10)).toEqual({ remaining: 3, deadline: 10 });
    expect(checkSend(afterWeChatRefusal(open, 'send_window_closed', 10), 10)).toBe('send_window_closed');
  });

  it('the view shows no allowance once closed and no expiry before any action', () => {
    expect(windowView(null, 0)).toEqual({ open: false, remaining: 0, expiresAt: null });
    expect(windowView({ remaining: 4, deadline: 100 }, 99)).toEqual({
      open: true,
      remaining: 4,
      expiresAt: 100,
    });
    expect(windowView({ remaining: 4, deadline: 100 }, 100)).toEqual({
      open: false,
      remaining: 0,
      expiresAt: 100,
    });
  });
});
