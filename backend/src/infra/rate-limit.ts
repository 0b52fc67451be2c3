/**
 * Counters for rate limits, in-process by default and in Redis when REDIS_URL is set, so
 * every node of a cluster sees the same counts. Built on rate-limiter-flexible. While Redis
 * is away each node counts on its own (the library's insurance limiter), at once rather
 * than after the client's retries: limits stay in force and requests are not held up.
 */
import type { Redis } from 'ioredis';
import {
  BurstyRateLimiter,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';

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
  /** Keys start with `<prefix>:rl:` (the nodes' REDIS_KEY_PREFIX; default `parley`). */
  prefix?: string;
}

export function createFailureCounter(opts: FailureCounterOptions): FailureCounter {
  const base = {
    keyPrefix: `${opts.prefix ?? 'parley'}:rl:${opts.name}`,
    points: opts.maxFailures,
    duration: opts.windowSeconds,
  };
  const limiter: RateLimiterAbstract = opts.redis
    ? redisLimiter(opts.redis, base)
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

function redisLimiter(
  redis: Redis,
  base: { keyPrefix: string; points: number; duration: number },
): RateLimiterAbstract {
  return new RateLimiterRedis({
    ...base,
    storeClient: redis,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory(base),
  });
}

export interface SendLimiter {
  /** Takes one send from the key's allowance; returns ms to wait when there is none left. */
  take(key: string): Promise<{ ok: true } | { ok: false; retryAfterMs: number }>;
}

/**
 * A steady rate per second plus a burst allowance per minute: people and bots can send a
 * quick run of messages, then are held to the steady rate.
 */
export function createSendLimiter(opts: {
  name: string;
  perSecond: number;
  burstPerMinute: number;
  redis?: Redis | undefined;
  /** Keys start with `<prefix>:rl:` (default `parley`). */
  prefix?: string;
}): SendLimiter {
  const make = (suffix: string, points: number, duration: number): RateLimiterAbstract => {
    const base = { keyPrefix: `${opts.prefix ?? 'parley'}:rl:${opts.name}:${suffix}`, points, duration };
    return opts.redis ? redisLimiter(opts.redis, base) : new RateLimiterMemory(base);
  };
  const steady = make('steady', opts.perSecond, 1);
  const limiter =
    opts.burstPerMinute > 0 ? new BurstyRateLimiter(steady, make('burst', opts.burstPerMinute, 60)) : steady;
  return {
    async take(key) {
      try {
        await limiter.consume(key);
        return { ok: true };
      } catch (err) {
        if (err instanceof RateLimiterRes) return { ok: false, retryAfterMs: Math.max(1, err.msBeforeNext) };
        throw err;
      }
    },
  };
}
