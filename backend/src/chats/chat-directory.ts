/**
 * A per-node cache of who is in which chat (with roles) and of people's names, so the hot
 * path (sending, fan-out, typing) does not ask the database for them on every message.
 *
 * Kept right by invalidation: the outbox relay invalidates a chat before it publishes an
 * event that changes its membership or rules, on every node (a bus message), and a
 * profile change invalidates its user. Entries also expire after `ttlMs`, a bound on
 * staleness should an invalidation ever be missed. The cache never decides alone what a
 * write may do: the send statement checks membership, blocks and request state itself.
 *
 * Fan-out does not rely on invalidations arriving in time: every committed change says
 * which membership version of its chat it committed under (`chats.members_version`, bumped
 * by triggers with every change to the members), and `memberIds(chatId, version)` reloads
 * a chat cached at an older version. So a node fanning out a message just after another
 * node added or removed a member reaches exactly the members the commit saw.
 */
import type { MemberRole } from '@parley/contracts';
import type { Database } from '../infra/db/client.js';

export interface CachedChat {
  id: string;
  kind: 'direct' | 'group';
  /** The chat's membership version these members are of. */
  version: number;
  /** userId → role */
  members: Map<string, MemberRole>;
}

export interface Profile {
  id: string;
  username: string;
  displayName: string;
}

export interface ChatDirectory {
  /** The chat with its members, or null when there is no such chat. */
  chat(chatId: string): Promise<CachedChat | null>;
  /**
   * The members; with `atLeastVersion` (the version a change committed under), never those
   * of an older membership (a chat cached before is read again).
   */
  memberIds(chatId: string, atLeastVersion?: number): Promise<string[]>;
  /** Profiles of these users (those that exist). */
  profiles(userIds: readonly string[]): Promise<Map<string, Profile>>;
  /** Forget these chats and users on this node (the bus brings other nodes' invalidations). */
  invalidate(change: { chatIds?: readonly string[]; userIds?: readonly string[] }): void;
  clear(): void;
}

interface Slot<T> {
  value: T;
  at: number;
}

const MAX_CHATS = 50_000;
const MAX_PROFILES = 200_000;

export function createChatDirectory(
  db: Database,
  opts: { ttlMs: number; now?: () => number } = { ttlMs: 60_000 },
): ChatDirectory {
  const now = opts.now ?? Date.now;
  const chats = new Map<string, Slot<CachedChat | null>>();
  const profiles = new Map<string, Slot<Profile>>();
  const loading = new Map<string, Promise<CachedChat | null>>();
  /** Bumped by every invalidation of a chat, so a load that raced one is not cached. */
  const generation = new Map<string, number>();

  const fresh = <T>(slot: Slot<T> | undefined): slot is Slot<T> =>
    slot !== undefined && now() - slot.at < opts.ttlMs;

  /** Map order is insertion order: re-inserting on use keeps the oldest first for eviction. */
  function remember<T>(map: Map<string, Slot<T>>, key: string, value: T, max: number) {
    map.delete(key);
    map.set(key, { value, at: now() });
    if (map.size > max) map.delete(map.keys().next().value!);
  }

  async function load(chatId: string): Promise<CachedChat | null> {
    const rows = await db.sql<{
      kind: string;
      members_version: number;
      user_id: string | null;
      role: string | null;
      username: string | null;
      display_name: string | null;
    }>(LOAD_CHAT, [chatId]);
    if (rows.length === 0) return null;
    const members = new Map<string, MemberRole>();
    for (const r of rows) {
      if (!r.user_id) continue;
      members.set(r.user_id, r.role as MemberRole);
      remember(
        profiles,
        r.user_id,
        { id: r.user_id, username: r.username!, displayName: r.display_name! },
        MAX_PROFILES,
      );
    }
    return {
      id: chatId,
      kind: rows[0]!.kind as CachedChat['kind'],
      version: rows[0]!.members_version,
      members,
    };
  }

  async function chat(chatId: string): Promise<CachedChat | null> {
    const slot = chats.get(chatId);
    if (fresh(slot)) return slot.value;
    const inFlight = loading.get(chatId);
    if (inFlight) return inFlight;
    const gen = generation.get(chatId) ?? 0;
    const promise = load(chatId).finally(() => loading.delete(chatId));
    loading.set(chatId, promise);
    const value = await promise;
    if ((generation.get(chatId) ?? 0) === gen) remember(chats, chatId, value, MAX_CHATS);
    return value;
  }

  function invalidate({
    chatIds = [],
    userIds = [],
  }: {
    chatIds?: readonly string[];
    userIds?: readonly string[];
  }) {
    for (const id of chatIds) {
      chats.delete(id);
      generation.set(id, (generation.get(id) ?? 0) + 1);
    }
    for (const id of userIds) profiles.delete(id);
    // Generations only matter while a load is in flight.
    if (generation.size > 10_000)
      for (const id of generation.keys()) if (!loading.has(id)) generation.delete(id);
  }

  return {
    chat,
    async memberIds(chatId, atLeastVersion) {
      let c = await chat(chatId);
      if (c && atLeastVersion !== undefined && c.version < atLeastVersion) {
        // Changed on another node, whose invalidation has not arrived yet (or a load in
        // flight started before the change): read it now, as the commit left it.
        // (Not through chat(): a load already in flight may be of the older version.)
        invalidate({ chatIds: [chatId] });
        const gen = generation.get(chatId) ?? 0;
        c = await load(chatId);
        if ((generation.get(chatId) ?? 0) === gen) remember(chats, chatId, c, MAX_CHATS);
      }
      return c ? [...c.members.keys()] : [];
    },
    async profiles(userIds) {
      const found = new Map<string, Profile>();
      const missing: string[] = [];
      for (const id of new Set(userIds)) {
        const slot = profiles.get(id);
        if (fresh(slot)) found.set(id, slot.value);
        else missing.push(id);
      }
      if (missing.length) {
        const rows = await db.sql<{ id: string; username: string; display_name: string }>(LOAD_PROFILES, [
          missing,
        ]);
        for (const r of rows) {
          const p = { id: r.id, username: r.username, displayName: r.display_name };
          remember(profiles, r.id, p, MAX_PROFILES);
          found.set(r.id, p);
        }
      }
      return found;
    },
    invalidate,
    clear() {
      chats.clear();
      profiles.clear();
      for (const id of loading.keys()) generation.set(id, (generation.get(id) ?? 0) + 1);
    },
  };
}

const LOAD_CHAT = {
  name: 'directory-chat',
  text: `SELECT c.kind, c.members_version, m.user_id::text AS user_id, m.role, u.username, u.display_name
    FROM chats c
    LEFT JOIN chat_members m ON m.chat_id = c.id
    LEFT JOIN users u ON u.id = m.user_id
    WHERE c.id = $1::uuid`,
};

const LOAD_PROFILES = {
  name: 'directory-profiles',
  text: `SELECT id::text AS id, username, display_name FROM users WHERE id = ANY($1::uuid[])`,
};
