/**
 * Who is online, shared by every node through Redis (the scaled-out twin of the memory
 * registry in presence.ts, with the same answers as far as a cluster can tell).
 *
 * Each node counts its own sockets per user in memory — the truth about that node — and
 * mirrors the counts to Redis for the others:
 * - `<prefix>:node:<nodeId>`  hash userId → sockets of the user on that node;
 * - `<prefix>:alive:<nodeId>` the node's heartbeat: set with a TTL (`ttlMs`, 15 s), renewed
 *   every `heartbeatMs` (5 s). Expiry is Redis's clock, so node clocks do not matter;
 * - `<prefix>:nodes`          the set of node ids, so nodes are found without SCAN.
 * A user is online while a live node (this one, or one whose heartbeat key exists) counts
 * a socket of theirs.
 *
 * `connected` / `disconnected` write the node's new count and, when the user's count on
 * this node went 0 → 1 or 1 → 0, look at the other live nodes in the same Lua script:
 * true means no other live node has the user, so they just came online / went offline for
 * the whole cluster (two nodes cannot both say "first" for one user). One round trip each.
 *
 * A node that dies stops renewing its heartbeat; within `ttlMs` the others see it as dead
 * and ignore its counts. `reapDeadNodes()` (run by every node's timer, every `heartbeatMs`)
 * removes the dead nodes' hashes in one script and returns the users that were online only
 * there — each to one caller only — so they are announced offline at most
 * ttlMs + heartbeatMs (20 s) after the node's last heartbeat. A user who went offline through
 * a `disconnected` on another node meanwhile is taken out of the dead node's hash then, so
 * the reaper does not announce them twice.
 *
 * A node that was taken for dead but is not (it stalled longer than the TTL, or lost
 * Redis), or whose counts Redis lost (a restart without persistence), finds its heartbeat
 * key gone on the next beat and writes all its counts again from memory; the users that
 * makes online again are handed to `onChange`, to be announced. A failed `connected` /
 * `disconnected` answers from this node's own counts, reports the error and has the next
 * beat write the counts again.
 *
 * `start()` before the first socket (it registers the node and starts the timer); `stop()`
 * on shutdown. The scripts build their keys from the prefix (the set of nodes is only known
 * inside), so this needs a single Redis, not a cluster.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { PresenceRegistry } from './presence.js';
import { redisScript } from './redis-script.js';

export interface PresenceChange {
  online: string[];
  offline: string[];
}

export interface RedisPresenceOptions {
  /** Key prefix, e.g. `parley:presence`. */
  prefix: string;
  /** Unique per running process (default: a random UUID). */
  nodeId?: string;
  /** How long a node counts as alive after its last heartbeat. */
  ttlMs?: number;
  heartbeatMs?: number;
  /** Users that came online or went offline other than by a socket of this node. */
  onChange?: (change: PresenceChange) => void;
  onError?: (err: unknown) => void;
}

export interface RedisPresence extends PresenceRegistry {
  readonly nodeId: string;
  /** Registers this node and starts the heartbeat. Returns the change that made (an earlier
   * run under the same node id leaves its users offline). */
  start(): Promise<PresenceChange>;
  /** Stops the heartbeat and removes this node; returns the users who went offline with it. */
  stop(): Promise<string[]>;
  /** Renews the heartbeat; writes the counts again if the node had been given up for dead. */
  heartbeat(): Promise<PresenceChange>;
  /** Forgets nodes whose heartbeat expired; returns the users who were online only there. */
  reapDeadNodes(): Promise<string[]>;
}

/** ARGV[1] prefix, ARGV[2] this node's id. */
const PRELUDE = `
local prefix, self = ARGV[1], ARGV[2]
local nodesKey = prefix .. ':nodes'
local function hashOf(node) return prefix .. ':node:' .. node end
local function aliveKey(node) return prefix .. ':alive:' .. node end
-- Other nodes whose heartbeat has not expired, and the ones whose has.
local function others()
  local live, dead = {}, {}
  for _, node in ipairs(redis.call('SMEMBERS', nodesKey)) do
    if node ~= self then
      if redis.call('EXISTS', aliveKey(node)) == 1 then live[#live + 1] = node else dead[#dead + 1] = node end
    end
  end
  return live, dead
end
local function countedOn(nodes, user)
  for _, node in ipairs(nodes) do
    if tonumber(redis.call('HGET', hashOf(node), user) or '0') > 0 then return true end
  end
  return false
end
`;

/** ARGV: prefix, node, user, the user's sockets on this node now, 'up' | 'down' | ''. */
const changeScript = redisScript(`${PRELUDE}
local user, count, edge = ARGV[3], tonumber(ARGV[4]), ARGV[5]
redis.call('SADD', nodesKey, self)
if count > 0 then redis.call('HSET', hashOf(self), user, count) else redis.call('HDEL', hashOf(self), user) end
if edge == '' then return 0 end
local live, dead = others()
if countedOn(live, user) then return 0 end
-- Announced offline here: the reaper of a dead node must not announce it again.
if edge == 'down' then
  for _, node in ipairs(dead) do redis.call('HDEL', hashOf(node), user) end
end
return 1
`);

/** ARGV: prefix, node, ttl. 0 when the heartbeat key was gone (the counts must be written). */
const beatScript = redisScript(`${PRELUDE}
if not redis.call('SET', aliveKey(self), '1', 'PX', ARGV[3], 'XX') then return 0 end
redis.call('SADD', nodesKey, self)
return 1
`);

/** ARGV: prefix, node, ttl, then user and count pairs. Returns {online, offline}. */
const restoreScript = redisScript(`${PRELUDE}
local own = hashOf(self)
local wasAlive = redis.call('EXISTS', aliveKey(self)) == 1
local before = {}
local flat = redis.call('HGETALL', own)
for i = 1, #flat, 2 do before[flat[i]] = tonumber(flat[i + 1]) end
local live = others()
local now, online, offline = {}, {}, {}
redis.call('DEL', own)
for i = 4, #ARGV, 2 do
  local user = ARGV[i]
  now[user] = true
  redis.call('HSET', own, user, ARGV[i + 1])
  -- Not seen as online while this node counted as dead (or its counts were lost).
  if not (wasAlive and (before[user] or 0) > 0) and not countedOn(live, user) then online[#online + 1] = user end
end
for user, n in pairs(before) do
  if n > 0 and not now[user] and not countedOn(live, user) then offline[#offline + 1] = user end
end
redis.call('SADD', nodesKey, self)
redis.call('SET', aliveKey(self), '1', 'PX', ARGV[3])
return {online, offline}
`);

/** ARGV: prefix, node. Returns the users who were online only on dead nodes. */
const reapScript = redisScript(`${PRELUDE}
local live, dead = others()
if #dead == 0 then return {} end
local users = {}
for _, node in ipairs(dead) do
  local flat = redis.call('HGETALL', hashOf(node))
  for i = 1, #flat, 2 do
    if tonumber(flat[i + 1]) > 0 then users[flat[i]] = true end
  end
  redis.call('DEL', hashOf(node))
  redis.call('SREM', nodesKey, node)
end
live[#live + 1] = self
local offline = {}
for user in pairs(users) do
  if not countedOn(live, user) then offline[#offline + 1] = user end
end
return offline
`);

/** ARGV: prefix, node. Removes this node; returns the users online only here. */
const stopScript = redisScript(`${PRELUDE}
local flat = redis.call('HGETALL', hashOf(self))
redis.call('DEL', hashOf(self), aliveKey(self))
redis.call('SREM', nodesKey, self)
local live = others()
local offline = {}
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) > 0 and not countedOn(live, flat[i]) then offline[#offline + 1] = flat[i] end
end
return offline
`);

/** ARGV: prefix, node, users. Returns those a live other node counts. */
const onlineElsewhereScript = redisScript(`${PRELUDE}
local live = others()
local online = {}
for _, node in ipairs(live) do
  local counts = redis.call('HMGET', hashOf(node), unpack(ARGV, 3))
  for i = 1, #counts do
    if counts[i] and tonumber(counts[i]) > 0 then online[#online + 1] = ARGV[i + 2] end
  end
end
return online
`);

/** Users per onlineAmong script call (Lua's unpack has a limit). */
const USERS_PER_CALL = 1000;

export function createRedisPresence(redis: Redis, opts: RedisPresenceOptions): RedisPresence {
  const nodeId = opts.nodeId ?? randomUUID();
  const ttlMs = opts.ttlMs ?? 15_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.floor(ttlMs / 3);
  if (!(heartbeatMs > 0 && heartbeatMs < ttlMs)) throw new RangeError('heartbeatMs must be below ttlMs.');
  const base = [opts.prefix, nodeId];
  /** This node's sockets per user: the truth Redis mirrors. */
  const sockets = new Map<string, number>();
  /** The mirror in Redis may be wrong (a write failed): write it all at the next beat. */
  let rewrite = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;

  const report = (err: unknown) => {
    try {
      opts.onError?.(err);
    } catch {
      // Reporting must not break presence.
    }
  };

  /** Mirrors the user's count; true when no other live node has the user. */
  async function mirror(userId: string, count: number, edge: 'up' | 'down' | ''): Promise<boolean> {
    try {
      return (await changeScript.run(redis, [], [...base, userId, count, edge])) === 1;
    } catch (err) {
      report(err);
      rewrite = true;
      return edge !== '';
    }
  }

  async function restore(): Promise<PresenceChange> {
    rewrite = false;
    const pairs: (string | number)[] = [];
    for (const [userId, n] of sockets) pairs.push(userId, n);
    try {
      const [online, offline] = (await restoreScript.run(redis, [], [...base, ttlMs, ...pairs])) as [
        string[],
        string[],
      ];
      return { online, offline };
    } catch (err) {
      rewrite = true;
      throw err;
    }
  }

  async function heartbeat(): Promise<PresenceChange> {
    if (!rewrite && (await beatScript.run(redis, [], [...base, ttlMs])) === 1)
      return { online: [], offline: [] };
    return restore();
  }

  async function reapDeadNodes(): Promise<string[]> {
    return (await reapScript.run(redis, [], base)) as string[];
  }

  function tick() {
    if (ticking) return;
    ticking = (async () => {
      try {
        const change = await heartbeat();
        change.offline.push(...(await reapDeadNodes()));
        if (change.online.length || change.offline.length) opts.onChange?.(change);
      } catch (err) {
        report(err);
      } finally {
        ticking = undefined;
      }
    })();
  }

  return {
    nodeId,
    async connected(userId) {
      const n = (sockets.get(userId) ?? 0) + 1;
      sockets.set(userId, n);
      return mirror(userId, n, n === 1 ? 'up' : '');
    },
    async disconnected(userId) {
      const n = (sockets.get(userId) ?? 0) - 1;
      if (n > 0) sockets.set(userId, n);
      else sockets.delete(userId);
      return mirror(userId, Math.max(n, 0), n === 0 ? 'down' : '');
    },
    async onlineAmong(userIds) {
      const online = new Set(userIds.filter((id) => sockets.has(id)));
      const rest = [...new Set(userIds.filter((id) => !online.has(id)))];
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < rest.length; i += USERS_PER_CALL) {
        calls.push(onlineElsewhereScript.run(redis, [], [...base, ...rest.slice(i, i + USERS_PER_CALL)]));
      }
      for (const found of (await Promise.all(calls)) as string[][]) for (const id of found) online.add(id);
      return online;
    },
    async start() {
      if (timer) throw new Error('Presence already started.');
      const change = await restore();
      timer = setInterval(tick, heartbeatMs);
      timer.unref();
      return change;
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await ticking;
      return (await stopScript.run(redis, [], base)) as string[];
    },
    heartbeat,
    reapDeadNodes,
  };
}
