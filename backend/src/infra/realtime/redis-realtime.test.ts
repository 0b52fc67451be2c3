/**
 * The Redis realtime parts against a real Redis: the inbox answers exactly as the memory
 * ring does (one table of cases, run on both), trims and loses data with the right reasons
 * and appends to a group in one command; the bus carries messages between two nodes;
 * presence is shared by nodes and notices a node that died.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ServerEvent } from '@parley/contracts';
import type { BusMessage } from './bus.js';
import { createMemoryInbox, type Inbox, type InboxRead } from './inbox.js';
import { createMemoryPresence, type PresenceRegistry } from './presence.js';
import { createRedisBus, type RedisBus } from './redis-bus.js';
import { createRedisInbox } from './redis-inbox.js';
import { createRedisPresence, type PresenceChange, type RedisPresence } from './redis-presence.js';
import { redisScript } from './redis-script.js';
import { startOwnRedis } from '../../../test/support/cluster.js';
import { waitUntil } from '../../../test/support/wait.js';

// CI runs Redis at 127.0.0.1:6379 (TEST_REDIS_URL overrides). Outside CI, a machine without
// Redis runs only the memory half of the shared cases and says so.
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Every key of this run starts with it; afterAll deletes them. */
const prefix = `test:realtime:${randomBytes(6).toString('hex')}`;
const connections: Redis[] = [];
function connect(): Redis {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  connections.push(redis);
  return redis;
}
const redis = connect();
const redisUp = await redis.ping().then(
  () => true,
  () => false,
);
if (!redisUp && process.env.CI) throw new Error(`CI needs Redis at ${redisUrl}`);
if (!redisUp) console.warn(`Redis not reachable at ${redisUrl}: skipping the Redis realtime tests`);
const describeRedis = redisUp ? describe : describe.skip;

/** Deletes the keys under a prefix (SCAN, not KEYS: the Redis is shared). */
async function deleteKeys(under: string) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${under}:*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

afterAll(async () => {
  if (redisUp) await deleteKeys(prefix);
  // (disconnect() on a connection already ended keeps the process up for 2 s)
  await Promise.all(
    connections.map((c) =>
      c.status === 'ready' ? c.quit() : c.status === 'end' ? undefined : c.disconnect(),
    ),
  );
});

let spaces = 0;
/** A fresh key prefix under this run's. */
const space = (name: string) => `${prefix}:${name}${(spaces += 1)}`;

/** Waits as tests here do: 30 s at most. */
const waitFor = (what: string, check: () => boolean | Promise<boolean>) => waitUntil(what, check, 30_000);

/** Distinct events with some nesting and text JSON must carry intact. */
function event(n: number): ServerEvent {
  return {
    type: 'message:new',
    data: {
      message: { id: randomUUID(), seq: n, body: `n°${n} "quoted" \\ \n ✓ 🎉`, mentions: [], replyTo: null },
    },
  } as unknown as ServerEvent;
}

const ok = (entries: { position: string; event: ServerEvent }[]): InboxRead => ({ ok: true, entries });
const unknown: InboxRead = { ok: false, reason: 'position_unknown' };
const trimmed: InboxRead = { ok: false, reason: 'position_trimmed' };
/** The position one past: both kinds of inbox write theirs as `<run or epoch>.<number>…`. */
const bump = (position: string) =>
  position.replace(/^([^.]+)\.(\d+)/, (_m, run, n) => `${run}.${Number(n) + 1}`);

// ---------------------------------------------------------------------------------------
// Inbox: one table of cases, run on the memory ring and on Redis.

interface InboxPair {
  inbox: Inbox;
  /** An inbox that never issued `inbox`'s positions (another run, another epoch). */
  other: Inbox;
  /** How many entries the store holds for a user, where it can be seen from outside. */
  held?: (userId: string) => Promise<number>;
}
const CAPACITY = 100;
const inboxKinds: [string, (capacity: number) => InboxPair][] = [
  ['memory', (capacity) => ({ inbox: createMemoryInbox(capacity), other: createMemoryInbox(capacity) })],
  ...(redisUp
    ? [
        [
          'Redis',
          (capacity: number) => {
            const prefix = space('inbox');
            return {
              inbox: createRedisInbox(redis, { prefix, capacity }),
              other: createRedisInbox(redis, { prefix: space('inbox'), capacity }),
              held: (userId: string) => redis.xlen(`${prefix}:{${userId}}:s`),
            };
          },
        ] as [string, (capacity: number) => InboxPair],
      ]
    : []),
];

const inboxCases: [string, (pair: InboxPair, user: string) => Promise<void>][] = [
  [
    'the head of an empty inbox is stable and reads as up to date',
    async ({ inbox }, u) => {
      const head = await inbox.head(u);
      expect(await inbox.head(u)).toBe(head);
      expect(await inbox.readAfter(u, head, 10)).toEqual(ok([]));
      expect(await inbox.readAfter(u, head, 0)).toEqual(ok([]));
    },
  ],
  [
    'appends read back oldest first with the positions append returned; the head is the last',
    async ({ inbox }, u) => {
      const start = await inbox.head(u);
      const events = [event(1), event(2), event(3)];
      const positions: string[] = [];
      for (const e of events) positions.push(await inbox.append(u, e));
      expect(new Set([start, ...positions]).size).toBe(4);
      expect(await inbox.head(u)).toBe(positions[2]);
      const all = events.map((e, i) => ({ position: positions[i]!, event: e }));
      expect(await inbox.readAfter(u, start, 10)).toEqual(ok(all));
      expect(await inbox.readAfter(u, positions[0]!, 10)).toEqual(ok(all.slice(1)));
      expect(await inbox.readAfter(u, positions[2]!, 10)).toEqual(ok([]));
    },
  ],
  [
    'at most limit entries per read; limit 0 only checks the position',
    async ({ inbox }, u) => {
      const start = await inbox.head(u);
      const events = [1, 2, 3, 4, 5].map(event);
      const positions: string[] = [];
      for (const e of events) positions.push(await inbox.append(u, e));
      const entry = (i: number) => ({ position: positions[i]!, event: events[i]! });
      expect(await inbox.readAfter(u, start, 2)).toEqual(ok([entry(0), entry(1)]));
      expect(await inbox.readAfter(u, positions[1]!, 2)).toEqual(ok([entry(2), entry(3)]));
      expect(await inbox.readAfter(u, positions[3]!, 2)).toEqual(ok([entry(4)]));
      expect(await inbox.readAfter(u, start, 1)).toEqual(ok([entry(0)]));
      expect(await inbox.readAfter(u, start, 0)).toEqual(ok([]));
      expect(await inbox.readAfter(u, positions[2]!, 0)).toEqual(ok([]));
    },
  ],
  [
    'a device at the head gets exactly what is appended next',
    async ({ inbox }, u) => {
      await inbox.append(u, event(1));
      const head = await inbox.head(u);
      expect(await inbox.readAfter(u, head, 10)).toEqual(ok([]));
      const e = event(2);
      const position = await inbox.append(u, e);
      expect(await inbox.readAfter(u, head, 10)).toEqual(ok([{ position, event: e }]));
    },
  ],
  [
    'appendMany gives each user the event at their own position, twice to a user listed twice',
    async ({ inbox }, u) => {
      const [v, w] = [randomUUID(), randomUUID()];
      await inbox.append(u, event(1));
      await inbox.append(u, event(2));
      const [hu, hv, hw] = [await inbox.head(u), await inbox.head(v), await inbox.head(w)];
      const e = event(3);
      await inbox.appendMany([u, v, w, w], e);
      expect(await inbox.readAfter(u, hu, 10)).toEqual(ok([{ position: await inbox.head(u), event: e }]));
      expect(await inbox.readAfter(v, hv, 10)).toEqual(ok([{ position: await inbox.head(v), event: e }]));
      const toW = await inbox.readAfter(w, hw, 10);
      expect(toW.ok && toW.entries.map((x) => x.event)).toEqual([e, e]);
      expect(toW.ok && toW.entries[1]!.position).toBe(await inbox.head(w));
      const headU = await inbox.head(u);
      await inbox.appendMany([], event(4));
      expect(await inbox.head(u)).toBe(headU);
    },
  ],
  [
    'appendMany says where the event went and the position just before it, for each user in order',
    async ({ inbox }, u) => {
      const [v, w] = [randomUUID(), randomUUID()];
      const afterU = await inbox.append(u, event(1));
      const [hv, hw] = [await inbox.head(v), await inbox.head(w)];
      const e = event(2);
      const appended = await inbox.appendMany([u, v, w, w], e);
      // Before: the last position each user's device could hold (the head, an append's).
      expect(appended.map((a) => a.after)).toEqual([afterU, hv, hw, appended[2]!.position]);
      expect(appended[0]!.position).toBe(await inbox.head(u));
      expect(appended[3]!.position).toBe(await inbox.head(w));
      // Each is the entry right after its `after`.
      for (const [i, user] of [u, v, w, w].entries()) {
        const read = await inbox.readAfter(user, appended[i]!.after, 1);
        expect(read).toEqual(ok([{ position: appended[i]!.position, event: e }]));
      }
      expect(await inbox.appendMany([], e)).toEqual([]);
    },
  ],
  [
    "users' inboxes are separate",
    async ({ inbox }, u) => {
      const v = randomUUID();
      const hv = await inbox.head(v);
      await inbox.append(u, event(1));
      expect(await inbox.head(v)).toBe(hv);
      expect(await inbox.readAfter(v, hv, 10)).toEqual(ok([]));
    },
  ],
  [
    'position_unknown: malformed, issued by another inbox, past the head',
    async ({ inbox, other }, u) => {
      const first = await inbox.append(u, event(1));
      for (const bad of ['', 'nope', 'x.1', '.', `${first}x`, `${first}.1`]) {
        expect(await inbox.readAfter(u, bad, 10)).toEqual(unknown);
      }
      expect(await inbox.readAfter(u, await other.append(u, event(2)), 10)).toEqual(unknown);
      expect(await inbox.readAfter(u, await other.head(randomUUID()), 10)).toEqual(unknown);
      expect(await inbox.readAfter(u, bump(await inbox.head(u)), 10)).toEqual(unknown);
      expect(await inbox.readAfter(u, bump(await inbox.head(u)), 0)).toEqual(unknown);
      // A device never holds another user's position; one further ahead is unknown to both.
      const v = randomUUID();
      await inbox.appendMany([v, v, v], event(3));
      expect(await inbox.readAfter(u, await inbox.head(v), 10)).toEqual(unknown);
      // Nothing was changed by the questions.
      expect(await inbox.readAfter(u, first, 10)).toEqual(ok([]));
    },
  ],
];

describe.each(inboxKinds)('inbox (%s)', (_kind, make) => {
  it.each(inboxCases)('%s', async (_name, run) => {
    await run(make(CAPACITY), randomUUID());
  });

  it('trimming: every issued position reads everything after it, or is position_trimmed', async () => {
    const capacity = 10;
    const { inbox, held } = make(capacity);
    const u = randomUUID();
    const events = Array.from({ length: 400 }, (_, i) => event(i + 1));
    const positions = [await inbox.head(u)];
    for (const e of events) positions.push(await inbox.append(u, e));
    const reads = await Promise.all(positions.map((p) => inbox.readAfter(u, p, 1000)));
    // The trimmed ones are the oldest, and at least `capacity` entries are still there.
    const firstReadable = reads.findIndex((r) => r.ok);
    expect(firstReadable).toBeGreaterThan(0);
    expect(events.length - firstReadable).toBeGreaterThanOrEqual(capacity);
    // Every entry still held is readable: the position just before the oldest one reads them all.
    if (held) expect(events.length - firstReadable).toBe(await held(u));
    reads.forEach((read, k) => {
      if (k < firstReadable) expect(read).toEqual(trimmed);
      else
        expect(read).toEqual(
          ok(events.slice(k).map((e, i) => ({ position: positions[k + 1 + i]!, event: e }))),
        );
    });
    expect(await inbox.head(u)).toBe(positions[400]);
  });
});

describeRedis('Redis inbox', () => {
  it('a script Redis has not cached is sent once in full, then run by its SHA1', async () => {
    const connection = connect();
    const script = redisScript(`-- ${randomUUID()}\nreturn {KEYS[1], ARGV[1]}`);
    await connection.ping(); // connected: only the script's own commands are counted
    const sent = jest.spyOn(connection, 'sendCommand');
    try {
      expect(await script.run(connection, [`${prefix}:k`], ['a'])).toEqual([`${prefix}:k`, 'a']);
      expect(await script.run(connection, [`${prefix}:k`], ['b'])).toEqual([`${prefix}:k`, 'b']);
      expect(sent.mock.calls.map(([command]) => command.name)).toEqual(['evalsha', 'eval', 'evalsha']);
    } finally {
      sent.mockRestore();
    }
  });

  it('positions are shared by nodes: one node appends, another reads and appends after', async () => {
    const prefix = space('inbox');
    const nodeA = createRedisInbox(redis, { prefix, capacity: CAPACITY });
    const nodeB = createRedisInbox(connect(), { prefix, capacity: CAPACITY });
    const u = randomUUID();
    const start = await nodeA.head(u);
    expect(await nodeB.head(u)).toBe(start);
    const [e1, e2] = [event(1), event(2)];
    const p1 = await nodeA.append(u, e1);
    expect(await nodeB.readAfter(u, start, 10)).toEqual(ok([{ position: p1, event: e1 }]));
    const p2 = await nodeB.append(u, e2);
    expect(await nodeA.readAfter(u, p1, 10)).toEqual(ok([{ position: p2, event: e2 }]));
  });

  it.each([
    ['both keys (Redis restarted without persistence)', ['s', 'e']],
    ['the stream only', ['s']],
    ['the epoch only', ['e']],
  ])(
    'a lost inbox: %s → earlier positions are position_unknown, also once new entries outnumber them',
    async (_what, lost) => {
      const prefix = space('inbox');
      const inbox = createRedisInbox(redis, { prefix, capacity: CAPACITY });
      const u = randomUUID();
      const start = await inbox.head(u);
      const before: string[] = [];
      for (let i = 1; i <= 3; i += 1) before.push(await inbox.append(u, event(i)));
      await redis.del(...lost.map((k) => `${prefix}:{${u}}:${k}`));
      for (const p of [start, ...before]) expect(await inbox.readAfter(u, p, 10)).toEqual(unknown);
      const fresh = await inbox.head(u);
      expect(await inbox.readAfter(u, fresh, 10)).toEqual(ok([]));
      const events = [4, 5, 6, 7, 8].map(event);
      const after: string[] = [];
      for (const e of events) after.push(await inbox.append(u, e));
      // The new stream's numbers have passed the old positions': still unknown, never a wrong read.
      for (const p of [start, ...before]) expect(await inbox.readAfter(u, p, 10)).toEqual(unknown);
      expect(await inbox.readAfter(u, fresh, 10)).toEqual(
        ok(events.map((e, i) => ({ position: after[i]!, event: e }))),
      );
    },
  );

  it('Redis back from an older snapshot numbers entries again: positions issued since are unknown', async () => {
    const prefix = space('inbox');
    const inbox = createRedisInbox(redis, { prefix, capacity: CAPACITY });
    const u = randomUUID();
    const keys = [`${prefix}:{${u}}:s`, `${prefix}:{${u}}:e`];
    const p1 = await inbox.append(u, event(1));
    const snapshot = await Promise.all(keys.map((k) => redis.dumpBuffer(k)));
    const lost = [await inbox.append(u, event(2)), await inbox.append(u, event(3))];
    // The crash, and the restart from the snapshot taken after the first event.
    await redis.del(...keys);
    await Promise.all(keys.map((k, i) => redis.restore(k, 0, snapshot[i]!)));
    const events = [event(12), event(13), event(14)];
    const again: string[] = [];
    for (const e of events) again.push(await inbox.append(u, e));
    // Same epoch and numbers 2 and 3 again, but other entries: a device at 2 or 3 re-syncs.
    for (const p of lost) expect(await inbox.readAfter(u, p, 10)).toEqual(unknown);
    expect(await inbox.readAfter(u, p1, 10)).toEqual(
      ok(events.map((e, i) => ({ position: again[i]!, event: e }))),
    );
  });

  it('with a TTL, an inbox lives that long after its last connect or (renewed every 16th) event; once gone, old positions are unknown', async () => {
    const prefix = space('inbox');
    const inbox = createRedisInbox(redis, { prefix, capacity: CAPACITY, ttlSeconds: 3600 });
    const [u, v] = [randomUUID(), randomUUID()];
    const keysOf = (id: string) => [`${prefix}:{${id}}:s`, `${prefix}:{${id}}:e`];
    const ttls = async (id: string) => Promise.all(keysOf(id).map((k) => redis.ttl(k)));
    // A device that connects (head) and one that gets an event both set it on both keys.
    const head = await inbox.head(v);
    for (const t of await ttls(v)) expect(t).toBeGreaterThan(3500);
    await inbox.appendMany([u, v], event(1));
    for (const id of [u, v]) for (const t of await ttls(id)) expect(t).toBeGreaterThan(3500);
    // Expired (here: by hand), the inbox starts afresh: a device away that long re-syncs.
    await redis.del(...keysOf(v));
    await inbox.append(v, event(2));
    expect(await inbox.readAfter(v, head, 10)).toEqual(unknown);
    // Without a TTL, nothing expires.
    const foreverPrefix = space('inbox');
    const forever = createRedisInbox(redis, { prefix: foreverPrefix, capacity: CAPACITY });
    const w = randomUUID();
    await forever.append(w, event(3));
    expect(await redis.ttl(`${foreverPrefix}:{${w}}:s`)).toBe(-1);
    expect(() => createRedisInbox(redis, { prefix, capacity: CAPACITY, ttlSeconds: -1 })).toThrow(RangeError);
  });

  it('appendMany to a group of 300 is one command (one round trip)', async () => {
    const connection = connect();
    const inbox = createRedisInbox(connection, { prefix: space('inbox'), capacity: CAPACITY });
    const users = Array.from({ length: 300 }, () => randomUUID());
    const heads = await Promise.all(users.map((u) => inbox.head(u)));
    await inbox.appendMany([randomUUID()], event(0)); // the script is cached from here on
    const e = event(1);
    const sent = jest.spyOn(connection, 'sendCommand');
    try {
      await inbox.appendMany(users, e);
      expect(sent.mock.calls.map(([command]) => command.name)).toEqual(['evalsha']);
    } finally {
      sent.mockRestore();
    }
    const reads = await Promise.all(users.map((u, i) => inbox.readAfter(u, heads[i]!, 10)));
    for (const read of reads) expect(read.ok && read.entries.map((x) => x.event)).toEqual([e]);
  });
});

// ---------------------------------------------------------------------------------------
// Bus: two nodes on one channel.

function collect(bus: RedisBus) {
  const got: BusMessage[] = [];
  const unsubscribe = bus.subscribe((m) => got.push(m));
  return { got, unsubscribe };
}

describeRedis('Redis bus', () => {
  const channel = `${prefix}:bus`;
  const errorsA: unknown[] = [];
  const errorsB: unknown[] = [];
  let a: RedisBus;
  let b: RedisBus;
  const raw = connect();
  beforeAll(async () => {
    a = createRedisBus(connect(), connect(), { channel, onError: (err) => errorsA.push(err) });
    b = createRedisBus(connect(), connect(), {
      channel,
      maxMessageBytes: 64 * 1024,
      onError: (err) => errorsB.push(err),
    });
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  const typing: ServerEvent = {
    type: 'typing:start',
    data: { chatId: randomUUID(), userId: randomUUID(), expiresInMs: 6000 },
  };

  it('a message reaches the other node in publish order, and the own node once, within publish', async () => {
    const [ra, rb] = [collect(a), collect(b)];
    const sent: BusMessage[] = [
      { kind: 'inbox', userIds: [randomUUID(), randomUUID()] },
      { kind: 'ephemeral', userIds: [randomUUID()], event: typing },
      { kind: 'close-sessions', sessionIds: [randomUUID()] },
    ];
    for (const [i, m] of sent.entries()) {
      await a.publish(m);
      expect(ra.got).toEqual(sent.slice(0, i + 1));
    }
    await waitFor('node B to get all three', () => rb.got.length >= 3);
    expect(rb.got).toEqual(sent);
    // B's message reaches A after A's own three came back from Redis: none was delivered twice.
    const fromB: BusMessage = { kind: 'invalidate', chatIds: [randomUUID()], userIds: [randomUUID()] };
    await b.publish(fromB);
    await waitFor('node A to get B’s message', () => ra.got.length >= 4);
    expect(ra.got).toEqual([...sent, fromB]);
    expect(rb.got).toEqual([...sent, fromB]);
    ra.unsubscribe();
    rb.unsubscribe();
  });

  it('a handler that throws or rejects is reported; the others and the subscription go on', async () => {
    errorsB.length = 0;
    const unsubscribeThrowing = b.subscribe(() => {
      throw new Error('handler bug');
    });
    const unsubscribeRejecting = b.subscribe((async () => {
      throw new Error('async handler bug');
    }) as () => void);
    const rb = collect(b);
    const m1: BusMessage = { kind: 'inbox', userIds: [randomUUID()] };
    const m2: BusMessage = { kind: 'inbox', userIds: [randomUUID()] };
    await a.publish(m1);
    await a.publish(m2);
    await waitFor('both messages', () => rb.got.length >= 2 && errorsB.length >= 4);
    expect(rb.got).toEqual([m1, m2]);
    expect((errorsB as Error[]).map((e) => e.message).sort()).toEqual([
      'async handler bug',
      'async handler bug',
      'handler bug',
      'handler bug',
    ]);
    unsubscribeThrowing();
    unsubscribeRejecting();
    rb.unsubscribe();
  });

  it('malformed and oversize frames are dropped and reported; the next good one arrives', async () => {
    errorsB.length = 0;
    const rb = collect(b);
    const frames = [
      'not json',
      'null',
      '[1,2]',
      JSON.stringify({ from: 'x', message: { kind: 'nope', userIds: [] } }),
      JSON.stringify({ from: 'x', message: { kind: 'inbox', userIds: [1, 2] } }),
      JSON.stringify({ from: 'x', message: { kind: 'invalidate', chatIds: 'all' } }),
      JSON.stringify({
        from: 'x',
        message: { kind: 'ephemeral', userIds: [], event: { type: 'typing:start' } },
      }),
      JSON.stringify({ from: 'x', message: { kind: 'inbox', userIds: ['x'.repeat(100_000)] } }),
    ];
    for (const frame of frames) await raw.publish(channel, frame);
    const good: BusMessage = { kind: 'inbox', userIds: [randomUUID()] };
    await a.publish(good);
    await waitFor('the good message', () => rb.got.length >= 1);
    expect(rb.got).toEqual([good]);
    expect(errorsB).toHaveLength(frames.length);
    // A message the others would drop is refused at the publisher, before anyone gets it.
    await expect(b.publish({ kind: 'inbox', userIds: ['y'.repeat(100_000)] })).rejects.toThrow(RangeError);
    expect(rb.got).toEqual([good]);
    rb.unsubscribe();
  });

  it('a message to a big group goes in parts of 1,000 ids and arrives whole', async () => {
    const [ra, rb] = [collect(a), collect(b)];
    const userIds = Array.from({ length: 2500 }, () => randomUUID());
    await a.publish({ kind: 'inbox', userIds });
    expect(ra.got).toEqual([{ kind: 'inbox', userIds }]);
    await waitFor('all parts', () => rb.got.length >= 3);
    expect(rb.got.map((m) => (m.kind === 'inbox' ? m.userIds.length : 0))).toEqual([1000, 1000, 500]);
    expect(rb.got.flatMap((m) => (m.kind === 'inbox' ? m.userIds : []))).toEqual(userIds);
    ra.unsubscribe();
    rb.unsubscribe();
  });

  it('an inbox wake-up carries its event and positions, in parts that keep them together; without them if they do not check out or fit', async () => {
    const [ra, rb] = [collect(a), collect(b)];
    const e: ServerEvent = {
      type: 'message:read',
      data: { chatId: randomUUID(), userId: randomUUID(), upToSeq: 7 },
    };
    const userIds = Array.from({ length: 1500 }, () => randomUUID());
    const appended = userIds.map((_, i): [string, string] => [`p.${i}`, `p.${i + 1}`]);
    await a.publish({ kind: 'inbox', userIds, event: e, appended });
    await waitFor('both parts', () => rb.got.length >= 2);
    expect(rb.got).toEqual([
      { kind: 'inbox', userIds: userIds.slice(0, 1000), event: e, appended: appended.slice(0, 1000) },
      { kind: 'inbox', userIds: userIds.slice(1000), event: e, appended: appended.slice(1000) },
    ]);
    // Not what the contract says, or positions that do not match the ids: a bare wake-up
    // (devices read their inboxes), never a lost one.
    const [u, v] = [randomUUID(), randomUUID()];
    const forged = [
      {
        kind: 'inbox',
        userIds: [u],
        event: { type: 'message:new', data: { nope: 1 } },
        appended: [['a', 'b']],
      },
      {
        kind: 'inbox',
        userIds: [v],
        event: e,
        appended: [
          ['a', 'b'],
          ['c', 'd'],
        ],
      },
    ];
    for (const message of forged) await raw.publish(channel, JSON.stringify({ from: 'x', message }));
    await waitFor('the forged two', () => rb.got.length >= 4);
    expect(rb.got.slice(2)).toEqual([
      { kind: 'inbox', userIds: [u] },
      { kind: 'inbox', userIds: [v] },
    ]);
    // An event too big for B's frames (64 KB) goes as a bare wake-up; this node keeps it whole.
    const big: ServerEvent = {
      type: 'message:expired',
      data: { chatId: randomUUID(), messageIds: Array.from({ length: 2000 }, () => randomUUID()) },
    };
    const w = randomUUID();
    await b.publish({ kind: 'inbox', userIds: [w], event: big, appended: [['a', 'b']] });
    await waitFor('the bare wake-up', () => ra.got.length >= 4);
    expect(ra.got.at(-1)).toEqual({ kind: 'inbox', userIds: [w] });
    expect(rb.got.at(-1)).toEqual({ kind: 'inbox', userIds: [w], event: big, appended: [['a', 'b']] });
    ra.unsubscribe();
    rb.unsubscribe();
  });

  it('an unsubscribed handler gets nothing more', async () => {
    const gone = collect(b);
    gone.unsubscribe();
    const rb = collect(b);
    const m: BusMessage = { kind: 'inbox', userIds: [randomUUID()] };
    await a.publish(m);
    await waitFor('the message', () => rb.got.length >= 1);
    expect(rb.got).toEqual([m]);
    expect(gone.got).toEqual([]);
    rb.unsubscribe();
  });

  it('after Redis restarts, onResubscribed runs once the subscription is live again, not before', async () => {
    const own = await startOwnRedis();
    const ownConnections: Redis[] = [];
    const onOwn = (retryMs = 50) => {
      const r = new Redis(own.url, { maxRetriesPerRequest: 1, retryStrategy: () => retryMs });
      r.on('error', () => undefined);
      ownConnections.push(r);
      return r;
    };
    const publisher = onOwn();
    // The subscriber comes back well after the publisher, which is ready when the handler runs.
    const node = createRedisBus(onOwn(), onOwn(1_000), { channel });
    try {
      await node.ready();
      const got = collect(node);
      // The moment the handler runs, Redis counts the node's subscription again, and what is
      // published then arrives.
      const marks: string[] = [];
      const subscribers: number[] = [];
      node.onResubscribed(() => {
        const mark = randomUUID();
        marks.push(mark);
        void publisher.pubsub('NUMSUB', channel).then((reply) => subscribers.push(Number(reply[1])));
        void publisher.publish(
          channel,
          JSON.stringify({ from: 'elsewhere', message: { kind: 'inbox', userIds: [mark] } }),
        );
      });
      await publisher.ping();
      await own.kill();
      await own.start();
      await waitFor('the handler to run', () => subscribers.length >= 1);
      expect(subscribers).toEqual([1]);
      await waitFor('what it published to arrive', () =>
        got.got.some((m) => m.kind === 'inbox' && m.userIds[0] === marks[0]),
      );
      expect(marks).toHaveLength(1);
      got.unsubscribe();
    } finally {
      await node.close();
      for (const r of ownConnections) r.disconnect();
      await own.close();
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------
// Presence.

describe.each([
  [
    'memory',
    async () => ({ presence: createMemoryPresence() as PresenceRegistry, done: async () => undefined }),
  ],
  ...(redisUp
    ? [
        [
          'Redis, one node',
          async () => {
            const presence = createRedisPresence(redis, { prefix: space('presence') });
            await presence.start();
            return { presence: presence as PresenceRegistry, done: async () => void (await presence.stop()) };
          },
        ] as [string, () => Promise<{ presence: PresenceRegistry; done: () => Promise<void> }>],
      ]
    : []),
])('presence answers (%s)', (_kind, make) => {
  it('true on a user’s first socket and after their last, as the memory registry says', async () => {
    const { presence, done } = await make();
    const [u, v, w] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await presence.connected(u)).toBe(true);
    expect(await presence.connected(u)).toBe(false);
    expect(await presence.connected(v)).toBe(true);
    expect(await presence.onlineAmong([u, v, w, u])).toEqual(new Set([u, v]));
    expect(await presence.disconnected(u)).toBe(false);
    expect(await presence.onlineAmong([u, v, w])).toEqual(new Set([u, v]));
    expect(await presence.disconnected(u)).toBe(true);
    expect(await presence.onlineAmong([u, v, w])).toEqual(new Set([v]));
    expect(await presence.disconnected(u)).toBe(false); // no socket left to close
    expect(await presence.connected(u)).toBe(true);
    expect(await presence.disconnected(u)).toBe(true);
    expect(await presence.disconnected(v)).toBe(true);
    expect(await presence.onlineAmong([u, v, w])).toEqual(new Set());
    expect(await presence.onlineAmong([])).toEqual(new Set());
    await done();
  });
});

describeRedis('Redis presence across nodes', () => {
  const nodes: RedisPresence[] = [];
  /** A node on its own connection, started. */
  async function node(prefix: string, opts: { ttlMs?: number; heartbeatMs?: number; nodeId?: string } = {}) {
    const connection = connect();
    const changes: PresenceChange[] = [];
    const errors: unknown[] = [];
    const presence = createRedisPresence(connection, {
      prefix,
      ...opts,
      onChange: (change) => changes.push(change),
      onError: (err) => errors.push(err),
    });
    nodes.push(presence);
    const started = await presence.start();
    return { presence, connection, changes, errors, started };
  }
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
  });

  it('a user is online while any node has a socket of theirs; first and last are said once', async () => {
    const prefix = space('presence');
    const [{ presence: a }, { presence: b }] = [await node(prefix), await node(prefix)];
    const u = randomUUID();
    expect(await a.connected(u)).toBe(true);
    expect(await b.connected(u)).toBe(false);
    expect(await b.onlineAmong([u])).toEqual(new Set([u]));
    expect(await a.disconnected(u)).toBe(false);
    expect(await a.onlineAmong([u])).toEqual(new Set([u]));
    expect(await b.disconnected(u)).toBe(true);
    expect(await a.onlineAmong([u])).toEqual(new Set());
    expect(await b.onlineAmong([u])).toEqual(new Set());
    // At the same moment on two nodes: exactly one says "first", then exactly one "last".
    const v = randomUUID();
    expect((await Promise.all([a.connected(v), b.connected(v)])).filter(Boolean)).toHaveLength(1);
    expect((await Promise.all([a.disconnected(v), b.disconnected(v)])).filter(Boolean)).toHaveLength(1);
  });

  it('the users of a node whose heartbeat expired are announced offline once, by one node', async () => {
    const prefix = space('presence');
    // Short enough to wait for, long enough that a busy machine never misses a beat.
    const short = { ttlMs: 3000, heartbeatMs: 200 };
    const a = await node(prefix, short);
    const b = await node(prefix, short);
    const dying = await node(prefix, short);
    const [onlyThere, alsoOnA, onlyOnB] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await dying.presence.connected(onlyThere)).toBe(true);
    expect(await dying.presence.connected(alsoOnA)).toBe(true);
    expect(await a.presence.connected(alsoOnA)).toBe(false);
    expect(await b.presence.connected(onlyOnB)).toBe(true);
    const all = [onlyThere, alsoOnA, onlyOnB];
    expect(await a.presence.onlineAmong(all)).toEqual(new Set(all));
    // The node dies: its connection is gone, nothing renews its heartbeat.
    dying.connection.disconnect();
    await dying.presence.stop().catch(() => undefined);
    const offline = () => [...a.changes, ...b.changes].flatMap((c) => c.offline);
    await waitFor('the dead node’s user to be announced offline', () => offline().length > 0);
    expect(offline()).toEqual([onlyThere]);
    expect(await a.presence.onlineAmong(all)).toEqual(new Set([alsoOnA, onlyOnB]));
    // Node B outlived several TTLs through its heartbeat alone; nothing is left to reap.
    expect(await a.presence.reapDeadNodes()).toEqual([]);
    expect(await b.presence.reapDeadNodes()).toEqual([]);
    expect(offline()).toEqual([onlyThere]);
    expect([...a.changes, ...b.changes].flatMap((c) => c.online)).toEqual([]);
  });

  it('a node given up for dead, or whose counts Redis lost, writes them again at its next beat', async () => {
    const prefix = space('presence');
    // Beats by hand here (the timer's are slower than the test).
    const a = await node(prefix);
    const b = await node(prefix);
    const u = randomUUID();
    expect(await b.presence.connected(u)).toBe(true);
    expect(await a.presence.heartbeat()).toEqual({ online: [], offline: [] });
    // B stalled past its TTL: A reaps it and announces its user offline.
    await redis.del(`${prefix}:alive:${b.presence.nodeId}`);
    expect(await a.presence.reapDeadNodes()).toEqual([u]);
    expect(await a.presence.onlineAmong([u])).toEqual(new Set());
    expect(await b.presence.heartbeat()).toEqual({ online: [u], offline: [] });
    expect(await a.presence.onlineAmong([u])).toEqual(new Set([u]));
    expect(await b.presence.heartbeat()).toEqual({ online: [], offline: [] });
    // Redis restarted without persistence: everything under the prefix is gone.
    await deleteKeys(prefix);
    expect(await a.presence.onlineAmong([u])).toEqual(new Set());
    expect(await a.presence.heartbeat()).toEqual({ online: [], offline: [] });
    expect(await b.presence.heartbeat()).toEqual({ online: [u], offline: [] });
    expect(await a.presence.onlineAmong([u])).toEqual(new Set([u]));
    expect(await b.presence.disconnected(u)).toBe(true);
    expect(await a.presence.onlineAmong([u])).toEqual(new Set());
  });

  it('a node restarted under the same id finds the users of its earlier run offline', async () => {
    const prefix = space('presence');
    const nodeId = randomUUID();
    const before = await node(prefix, { nodeId });
    const u = randomUUID();
    expect(await before.presence.connected(u)).toBe(true);
    before.connection.disconnect();
    await before.presence.stop().catch(() => undefined);
    const after = await node(prefix, { nodeId });
    expect(after.started).toEqual({ online: [], offline: [u] });
    expect(await after.presence.onlineAmong([u])).toEqual(new Set());
  });

  it('stop() removes the node and returns the users who were online only there', async () => {
    const prefix = space('presence');
    const a = await node(prefix);
    const b = await node(prefix);
    const [u, v] = [randomUUID(), randomUUID()];
    await a.presence.connected(u);
    await a.presence.connected(v);
    await b.presence.connected(v);
    expect(await a.presence.stop()).toEqual([u]);
    expect(await b.presence.onlineAmong([u, v])).toEqual(new Set([v]));
    expect(
      await redis.exists(`${prefix}:node:${a.presence.nodeId}`, `${prefix}:alive:${a.presence.nodeId}`),
    ).toBe(0);
  });
});
