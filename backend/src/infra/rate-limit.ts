/**
 * Counters for rate limits, in-process by default and in Redis when REDIS_URL is set, so
 * every node of a cluster sees the same counts. Built on rate-limiter-flexible.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface FailureCounter {
  /** Seconds until the key may try again, or 0 when it is not blocked. */
  blockedFor(key: string): Promise<number>;
  /** Records one failure. */
  fail(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

export interface FailureCounterOptions {
  name: string;
  maxFailures: number;
  windowSeconds: number;
  redis?: Redis;
}

export function createFailureCounter(opts: FailureCounterOptions): FailureCounter {
  const base = {
    keyPrefix: `parley:rl:${opts.name}`,
    points: opts.maxFailures,
    duration: opts.windowSeconds,
  };
  const limiter: RateLimiterAbstract = opts.redis
    ? new RateLimiterRedis({ ...base, storeClient: opts.redis })
    : new RateLimiterMemory(base);
  const secondsUntilReset = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
  return {
    async blockedFor(key) {
      const res = await limiter.get(key);
      if (!res || res.consumedPoints < opts.maxFailures) return 0;
      return secondsUntilReset(res.msBeforeNext);
    },
    async fail(key) {
      await limiter.penalty(key, 1);
    },
    async reset(key) {
      await limiter.delete(key);
    },
  };
}
