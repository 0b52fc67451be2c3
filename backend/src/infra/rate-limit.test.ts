import { afterAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { addressKey, createFailureCounter, isLoopback, type FailureCounter } from './rate-limit.js';

// Redis is part of the scaled-out mode; CI runs it at 127.0.0.1:6379 (REDIS_URL overrides).
// Outside CI, a machine without Redis skips those cases and says so.
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
const redisUp = await redis.connect().then(
  () => true,
  () => false,
);
if (!redisUp && process.env.CI) throw new Error(`CI needs Redis at ${redisUrl}`);
if (!redisUp) console.warn(`Redis not reachable at ${redisUrl}: skipping the Redis rate-limit tests`);
afterAll(() => (redisUp ? redis.quit() : redis.disconnect()));

const backends: [string, () => Promise<FailureCounter>][] = [
  [
    'in-process',
    async () =>
      createFailureCounter({ name: `t${randomBytes(4).toString('hex')}`, maxFailures: 3, windowSeconds: 60 }),
  ],
  ...(redisUp
    ? [
        [
          'Redis',
          async () =>
            createFailureCounter({
              name: `t${randomBytes(4).toString('hex')}`,
              maxFailures: 3,
              windowSeconds: 60,
              redis,
            }),
        ] as [string, () => Promise<FailureCounter>],
      ]
    : []),
];

describe.each(backends)('failure counter (%s)', (_name, make) => {
  it('blocks a key after maxFailures for about the window, and only that key', async () => {
    const counter = await make();
    for (let i = 0; i < 3; i += 1) {
      expect(await counter.blockedFor('a')).toBe(0);
      await counter.fail('a');
    }
    const seconds = await counter.blockedFor('a');
    expect(seconds).toBeGreaterThan(55);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(await counter.blockedFor('b')).toBe(0);
  });

  it('reserve is atomic: of 100 parallel attempts exactly maxFailures go ahead', async () => {
    const counter = await make();
    const waits = await Promise.all(Array.from({ length: 100 }, () => counter.reserve('racy')));
    expect(waits.filter((w) => w === 0)).toHaveLength(3);
    expect(waits.filter((w) => w > 55 && w <= 60)).toHaveLength(97);
    // A released reservation (an attempt that was not a failure) frees one place.
    const other = await make();
    expect(await other.reserve('r')).toBe(0);
    await other.release('r');
    for (let i = 0; i < 3; i += 1) expect(await other.reserve('r')).toBe(0);
    expect(await other.reserve('r')).toBeGreaterThan(0);
  });

  it('reset clears the count', async () => {
    const counter = await make();
    await counter.fail('k');
    await counter.fail('k');
    await counter.reset('k');
    await counter.fail('k');
    await counter.fail('k');
    expect(await counter.blockedFor('k')).toBe(0);
    await counter.fail('k');
    expect(await counter.blockedFor('k')).toBeGreaterThan(0);
  });
});

(redisUp ? it : it.skip)('two nodes sharing Redis see one count', async () => {
  const name = `shared${randomBytes(4).toString('hex')}`;
  const nodeA = createFailureCounter({ name, maxFailures: 2, windowSeconds: 60, redis });
  const nodeB = createFailureCounter({ name, maxFailures: 2, windowSeconds: 60, redis });
  await nodeA.fail('user|1.2.3.4');
  await nodeB.fail('user|1.2.3.4');
  expect(await nodeA.blockedFor('user|1.2.3.4')).toBeGreaterThan(0);
  await redis.del(`parley:rl:${name}:user|1.2.3.4`);
});

it('counts IPv4 addresses as they are and IPv6 ones by their /64', () => {
  expect(addressKey('203.0.113.9')).toBe('203.0.113.9');
  expect(addressKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
  expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
  expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
  expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
  expect(addressKey('::1')).toBe('0:0:0:0::/64');
  expect(addressKey(undefined)).toBe('unknown');
});

it('knows loopback clients (left out of per-address limits unless ADDRESS_LIMITS_LOOPBACK=limit)', () => {
  for (const ip of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(ip)).toBe(true);
  for (const ip of [
    '203.0.113.9',
    '::ffff:203.0.113.9',
    '2001:db8::1',
    '0.0.0.0',
    undefined,
    '127.0.0.1.evil',
  ])
    expect(isLoopback(ip)).toBe(false);
});
