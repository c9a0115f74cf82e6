import { describe, expect, it } from 'vitest';
import { maxAttempts, nextAttemptDelay, parseRetryAfter } from '../../../src/delivery/backoff.js';

const schedule = [5_000, 300_000, 1_800_000];
const NOW = Date.UTC(2026, 11, 1, 8, 0, 0);

describe('nextAttemptDelay', () => {
  it('follows the schedule, one entry per failed attempt, then stops', () => {
    expect(nextAttemptDelay(1, schedule, null, 0.5)).toBe(5_000);
    expect(nextAttemptDelay(2, schedule, null, 0.5)).toBe(300_000);
    expect(nextAttemptDelay(3, schedule, null, 0.5)).toBe(1_800_000);
    expect(nextAttemptDelay(4, schedule, null, 0.5)).toBeNull();
    expect(maxAttempts(schedule)).toBe(4);
  });

  it('spreads each delay by ±20%', () => {
    expect(nextAttemptDelay(1, schedule, null, 0)).toBe(4_000);
    expect(nextAttemptDelay(1, schedule, null, 0.999999)).toBe(6_000);
    expect(nextAttemptDelay(2, schedule, null, 0.25)).toBe(270_000);
  });

  it('honours Retry-After within [scheduled, 2 × scheduled]', () => {
    expect(nextAttemptDelay(1, schedule, '7', 0.5, NOW)).toBe(7_000);
    expect(nextAttemptDelay(1, schedule, '3600', 0.5, NOW)).toBe(10_000);
    expect(nextAttemptDelay(1, schedule, '1', 0.5, NOW)).toBe(5_000);
    expect(nextAttemptDelay(1, schedule, 'soon', 0.5, NOW)).toBe(5_000);
    const inEightSeconds = new Date(NOW + 8_000).toUTCString();
    expect(nextAttemptDelay(1, schedule, inEightSeconds, 0.5, NOW)).toBe(8_000);
    // with jitter the bounds move with the jittered delay
    expect(nextAttemptDelay(1, schedule, '3600', 0, NOW)).toBe(8_000);
  });

  it('does not extend past the last attempt', () => {
    expect(nextAttemptDelay(4, schedule, '10', 0.5, NOW)).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(new Date(NOW + 60_000).toUTCString(), NOW)).toBe(60_000);
    expect(parseRetryAfter(new Date(NOW - 60_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter('2026-12-01', NOW)).toBeNull();
    expect(parseRetryAfter('-5', NOW)).toBeNull();
    expect(parseRetryAfter('1.5', NOW)).toBeNull();
    expect(parseRetryAfter(undefined, NOW)).toBeNull();
  });
});
