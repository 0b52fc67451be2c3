/**
 * A Lua script run by its SHA1 (EVALSHA): one command and one round trip, with the script's
 * text sent again only when this Redis has not cached it (after a restart or SCRIPT FLUSH).
 * Scripts keep each read-and-decide step of the realtime parts atomic on the server.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface RedisScript {
  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
}

export function redisScript(lua: string): RedisScript {
  const sha = createHash('sha1').update(lua).digest('hex');
  return {
    async run(redis, keys, args) {
      // One array, never spread into a call: a node's presence can be tens of thousands of args.
      const rest = [keys.length, ...keys, ...args];
      try {
        return await redis.call('evalsha', [sha, ...rest]);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return redis.call('eval', [lua, ...rest]);
      }
    },
  };
}
