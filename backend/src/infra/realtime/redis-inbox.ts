/**
 * The per-user inbox on Redis Streams, shared by every node (the scaled-out twin of the
 * memory ring in inbox.ts, with the same answers).
 *
 * Keys of one user (hash-tagged by user, so both are in one cluster slot):
 * - `<prefix>:{<userId>}:s` — a stream of the user's events (fields `e`: the event as JSON,
 *   `c`: a random check, below). Entries are added with the id `0-*`, so Redis numbers them
 *   0-1, 0-2, … one apart (Redis ≥ 7.0), and trimmed with `MAXLEN ~ capacity` (whole stream
 *   nodes at a time, so at least `capacity` entries stay).
 * - `<prefix>:{<userId>}:e` — the stream's epoch: random, made in the same script as the
 *   stream.
 *
 * A position is `<epoch>.<n>.<check>` for the entry `0-<n>`; the head of an inbox that never
 * had an event is `<epoch>.0`. Because entries are one apart and never deleted singly, the
 * stream's last id and length say exactly which positions can still be read: n is readable
 * while `last - length <= n <= last` (n = last - length is the entry just before the oldest
 * kept one: nothing after it is missing), as in the ring. A lower n is `position_trimmed`; a
 * higher n, another epoch or a malformed position is `position_unknown`.
 *
 * Losing data:
 * - If Redis loses either key (a restart without persistence, eviction, a deletion), the
 *   next head or append starts a new epoch with a new stream, so positions of the old one
 *   are unknown instead of being read against the new one's numbers. The epoch and the
 *   stream are read in one Lua script, so they are never seen apart.
 * - If Redis comes back from an older snapshot (RDB, or AOF without fsync per write), the
 *   epoch is the same and new entries take numbers that were issued before. The check
 *   tells them apart: a position whose entry is still held must carry that entry's check,
 *   otherwise it is unknown (never a read that skips the events numbered again).
 *
 * Round trips: `append`, `readAfter` and `head` are one script call each; `appendMany` is one
 * script call per 500 users (the event's JSON sent once per call), all written at once
 * without waiting for replies — one round trip. Appends return each user's new position and
 * the one before it (with the previous entry's check, if it is held), so a device known
 * to be at that earlier position can be given the event without reading it back.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ServerEvent } from '@parley/contracts';
import type { Appended, Inbox, InboxEntry, InboxRead } from './inbox.js';
import { redisScript } from './redis-script.js';

export interface RedisInboxOptions {
  /** Key prefix, e.g. `parley:inbox`. */
  prefix: string;
  /** Entries kept per user (at least; Redis trims whole stream nodes). */
  capacity: number;
  /**
   * Both keys of a user go this long after the last connect (`head`) or the last of every
   * 16 appends (default: never). A device that comes back later holds a position of a lost
   * epoch: `position_unknown`, re-sync.
   */
  ttlSeconds?: number;
}

const PRELUDE = `
-- The user's epoch. A new one, with a new empty stream, when the user has none or when
-- Redis lost one of the two keys: positions issued before are then unknown, never read
-- against the new stream's numbers.
local function epochOf(stream, epochKey, fresh)
  local epoch = redis.call('GET', epochKey)
  if epoch and redis.call('EXISTS', stream) == 1 then return epoch end
  redis.call('DEL', stream)
  -- MKSTREAM is how Redis makes an empty stream (last id 0-0: the head is <epoch>.0).
  redis.call('XGROUP', 'CREATE', stream, 'new', '$', 'MKSTREAM')
  redis.call('XGROUP', 'DESTROY', stream, 'new')
  redis.call('SET', epochKey, fresh)
  return fresh
end
-- The number of the newest entry ever added (kept across trimming) and how many are kept.
local function extent(stream)
  local info = redis.call('XINFO', 'STREAM', stream)
  local last, length
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = tonumber(string.sub(info[i + 1], 3))
    elseif info[i] == 'length' then length = info[i + 1] end
  end
  return last, length
end
-- The check of entry n if the stream holds it, else nil.
local function checkAt(stream, n)
  local id = '0-' .. n
  local found = redis.call('XRANGE', stream, id, id)
  if #found == 0 then return nil end
  local fields = found[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'c' then return fields[i + 1] end
  end
  return nil
end
`;

/** KEYS: stream and epoch key of each user, in pairs. ARGV: capacity, event JSON, the
 * entries' check, a fresh epoch (for users that need one), seconds to keep the keys after
 * this append (0: no expiry). Returns, per user, the epoch, the new entry's id and the
 * check of the entry before it ('' if none is held). */
const appendScript = redisScript(`${PRELUDE}
local out = {}
local ttl = tonumber(ARGV[5])
for i = 1, #KEYS, 2 do
  local epoch = epochOf(KEYS[i], KEYS[i + 1], ARGV[4])
  local id = redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '0-*', 'e', ARGV[2], 'c', ARGV[3])
  local n = tonumber(string.sub(id, 3))
  -- The expiry is renewed with every 16th entry (and at every connect, in the head script):
  -- two commands per user saved on most appends, for a TTL of days.
  if ttl > 0 and n % 16 == 1 then
    redis.call('EXPIRE', KEYS[i], ttl)
    redis.call('EXPIRE', KEYS[i + 1], ttl)
  end
  out[#out + 1] = epoch
  out[#out + 1] = id
  out[#out + 1] = (n > 1 and checkAt(KEYS[i], n - 1)) or ''
end
return out
`);

/** KEYS: stream, epoch key. ARGV: the position's epoch, number and check, limit. */
const readScript = redisScript(`${PRELUDE}
local epoch = redis.call('GET', KEYS[2])
if not epoch or epoch ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then
  return {'position_unknown'}
end
local last, length = extent(KEYS[1])
local n = tonumber(ARGV[2])
if n > last then return {'position_unknown'} end
if n < last - length then return {'position_trimmed'} end
-- Entry n is still held: it must be the one the position was issued for.
if n > last - length and checkAt(KEYS[1], ARGV[2]) ~= ARGV[3] then return {'position_unknown'} end
local limit = tonumber(ARGV[4])
if limit < 1 or n == last then return {'ok', {}} end
return {'ok', redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[2], '+', 'COUNT', limit)}
`);

/** KEYS: stream, epoch key. ARGV: a fresh epoch (if the user needs one), seconds to keep
 * the keys from now (0: no expiry; a device connecting keeps its inbox as an event does). */
const headScript = redisScript(`${PRELUDE}
local epoch = epochOf(KEYS[1], KEYS[2], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
local last, length = extent(KEYS[1])
local check = ''
if length > 0 then check = checkAt(KEYS[1], last) or '' end
return {epoch, last, check}
`);

/** Users per script call in appendMany: bounds how long one call holds Redis. */
const USERS_PER_CALL = 500;
const EPOCH_BYTES = 6;
const CHECK_BYTES = 4;
const POSITION = new RegExp(
  `^([0-9a-f]{${EPOCH_BYTES * 2}})\\.(\\d{1,15})(?:\\.([0-9a-f]{${CHECK_BYTES * 2}}))?$`,
);

type StreamEntry = [id: string, fields: string[]];

const random = (bytes: number) => randomBytes(bytes).toString('hex');
/** `<epoch>.<n>.<check>` for stream id `0-<n>`; `<epoch>.0` before the first entry. */
const positionOf = (epoch: string, streamId: string | number, check: string) => {
  const n = typeof streamId === 'number' ? streamId : streamId.slice(streamId.indexOf('-') + 1);
  return check ? `${epoch}.${n}.${check}` : `${epoch}.${n}`;
};
const field = (fields: string[], name: string) => fields[fields.indexOf(name) + 1]!;

export function createRedisInbox(redis: Redis, opts: RedisInboxOptions): Inbox {
  if (!Number.isSafeInteger(opts.capacity) || opts.capacity < 1) {
    throw new RangeError('Inbox capacity must be a positive integer.');
  }
  if (opts.ttlSeconds !== undefined && !(Number.isSafeInteger(opts.ttlSeconds) && opts.ttlSeconds >= 0)) {
    throw new RangeError('Inbox TTL must be a whole number of seconds.');
  }
  const keysOf = (userId: string) => [`${opts.prefix}:{${userId}}:s`, `${opts.prefix}:{${userId}}:e`];

  async function appendTo(userIds: readonly string[], event: ServerEvent): Promise<Appended[]> {
    if (userIds.length === 0) return [];
    const check = random(CHECK_BYTES);
    const args = [opts.capacity, JSON.stringify(event), check, random(EPOCH_BYTES), opts.ttlSeconds ?? 0];
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < userIds.length; i += USERS_PER_CALL) {
      calls.push(appendScript.run(redis, userIds.slice(i, i + USERS_PER_CALL).flatMap(keysOf), args));
    }
    const out: Appended[] = [];
    for (const reply of (await Promise.all(calls)) as string[][]) {
      for (let i = 0; i < reply.length; i += 3) {
        const [epoch, id, before] = [reply[i]!, reply[i + 1]!, reply[i + 2]!];
        const n = Number(id.slice(id.indexOf('-') + 1));
        out.push({
          after: positionOf(epoch, n - 1, n > 1 ? before : ''),
          position: positionOf(epoch, id, check),
        });
      }
    }
    return out;
  }

  return {
    async append(userId, event) {
      const [appended] = await appendTo([userId], event);
      return appended!.position;
    },

    appendMany: (userIds, event) => appendTo(userIds, event),

    async readAfter(userId, position, limit): Promise<InboxRead> {
      const parsed = POSITION.exec(position);
      if (!parsed) return { ok: false, reason: 'position_unknown' };
      const [, epoch, n, check = ''] = parsed as unknown as [string, string, string, string?];
      // As the ring: at most `limit`, none for 0 (a check that the position is readable).
      const count = limit >= 1 ? Math.min(Math.floor(limit), 1e9) : 0;
      const reply = (await readScript.run(redis, keysOf(userId), [
        epoch,
        String(Number(n)),
        check,
        count,
      ])) as ['ok', StreamEntry[]] | ['position_unknown' | 'position_trimmed'];
      if (reply[0] !== 'ok') return { ok: false, reason: reply[0] };
      const entries = reply[1]!.map(([id, fields]): InboxEntry => ({
        position: positionOf(epoch, id, field(fields, 'c')),
        event: JSON.parse(field(fields, 'e')) as ServerEvent,
      }));
      return { ok: true, entries };
    },

    async head(userId) {
      const [epoch, last, check] = (await headScript.run(redis, keysOf(userId), [
        random(EPOCH_BYTES),
        opts.ttlSeconds ?? 0,
      ])) as [string, number, string];
      return positionOf(epoch, last, check);
    },
  };
}
