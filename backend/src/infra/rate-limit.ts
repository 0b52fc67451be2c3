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
  /**
   * Counts an attempt before it is checked, in one atomic step (an increment in memory or
   * in Redis), so parallel attempts cannot all slip under the limit: 0 when this attempt
   * may go ahead, else the seconds until the key may try again.
   */
  reserve(key: string): Promise<number>;
  /** Gives back a reserved attempt that turned out not to be a failure. */
  release(key: string): Promise<void>;
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
    async reserve(key) {
      try {
        await limiter.consume(key, 1);
        return 0;
      } catch (err) {
        if (err instanceof RateLimiterRes) return secondsUntilReset(err.msBeforeNext);
        throw err;
      }
    },
    async release(key) {
      await limiter.reward(key, 1);
    },
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

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x: a client on this host (or a proxy on it). */
export function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  return ip === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/i.test(ip);
}

/**
 * The key a client address is counted under: an IPv4 address as it is, an IPv6 address by
 * its /64 network (one host usually holds a whole /64, so counting single addresses would
 * give it 2^64 budgets). IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function addressKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
