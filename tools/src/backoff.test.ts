import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  RECONNECT_BACKOFF,
  retryAfterDelay,
  retryAfterOf,
  SEND_RETRY_DEFAULT_MS,
  SEND_RETRY_MAX_MS,
  SEND_RETRY_MIN_MS,
} from './backoff.js';

const low = () => 0;
const high = () => 0.999999;

describe('reconnect backoff', () => {
  it('starts between 50 and 100 ms and doubles up to 5 s', () => {
    expect(backoffDelay(0, RECONNECT_BACKOFF, low)).toBe(50);
    expect(backoffDelay(0, RECONNECT_BACKOFF, high)).toBeCloseTo(100, 3);
    const uppers = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => Math.round(backoffDelay(n, RECONNECT_BACKOFF, high)));
    expect(uppers).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it('keeps every delay in the upper half of its window: never zero, never above the cap', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    for (let attempt = 0; attempt < 40; attempt++) {
      const window = Math.min(5_000, 100 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, RECONNECT_BACKOFF, random);
        expect(d).toBeGreaterThanOrEqual(window / 2);
        expect(d).toBeLessThanOrEqual(window);
      }
    }
  });

  it('spreads devices dropped together instead of bringing them back at once', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const delays = Array.from({ length: 1000 }, () => backoffDelay(3, RECONNECT_BACKOFF, random));
    // 400–800 ms: a thousand devices come back over 400 ms, not in one millisecond.
    const buckets = new Set(delays.map((d) => Math.floor(d / 50)));
    expect(buckets.size).toBeGreaterThanOrEqual(8);
  });

  it('treats odd attempts sanely', () => {
    expect(backoffDelay(-3, RECONNECT_BACKOFF, low)).toBe(50);
    expect(backoffDelay(1e9, RECONNECT_BACKOFF, high)).toBeLessThanOrEqual(5_000);
    expect(backoffDelay(2.7, RECONNECT_BACKOFF, low)).toBe(200);
  });
});

describe('the wait before sending a refused message again', () => {
  it('uses what the server asked, bounded, with up to 20 % jitter on top', () => {
    expect(retryAfterDelay(1_000, low)).toBe(1_000);
    expect(retryAfterDelay(1_000, high)).toBeCloseTo(1_200, 1);
    expect(retryAfterDelay(5, low)).toBe(SEND_RETRY_MIN_MS);
    expect(retryAfterDelay(10 * 60_000, low)).toBe(SEND_RETRY_MAX_MS);
  });

  it('waits a second when the refusal names no wait', () => {
    expect(retryAfterDelay(undefined, low)).toBe(SEND_RETRY_DEFAULT_MS);
    expect(retryAfterDelay(Number.NaN, low)).toBe(SEND_RETRY_DEFAULT_MS);
    expect(retryAfterDelay(-5, low)).toBe(SEND_RETRY_DEFAULT_MS);
  });

  it("reads details.retryAfterMs from an error's details", () => {
    expect(retryAfterOf({ retryAfterMs: 750 })).toBe(750);
    expect(retryAfterOf({ retryAfterMs: '750' })).toBeUndefined();
    expect(retryAfterOf(undefined)).toBeUndefined();
    expect(retryAfterOf('x')).toBeUndefined();
  });
});
