/**
 * Per-user inbox: every lasting event for a user gets a position, so a device that was
 * away can ask for everything after the last position it processed. This file is the
 * interface and the embedded implementation (a ring of recent events per user, in
 * memory); a Redis Streams implementation fits the same interface.
 */
import { randomBytes } from 'node:crypto';
import type { ServerEvent } from '@parley/contracts';

export interface InboxEntry {
  position: string;
  event: ServerEvent;
}

export type InboxRead =
  | { ok: true; entries: InboxEntry[] }
  /** unknown: never issued by this inbox (another server run); trimmed: too old. */
  | { ok: false; reason: 'position_unknown' | 'position_trimmed' };

/** Where an appended event went in one user's inbox. */
export interface Appended {
  /** The position just before it: a device there has everything up to this event. */
  after: string;
  position: string;
}

export interface Inbox {
  /** Appends and returns the event's position. Positions of one user only grow. */
  append(userId: string, event: ServerEvent): Promise<string>;
  /**
   * The same event for several users (one round trip where the inbox is remote); returns
   * where it went, in the order of `userIds`.
   */
  appendMany(userIds: readonly string[], event: ServerEvent): Promise<Appended[]>;
  /** Entries after `position`, oldest first, at most `limit`. */
  readAfter(userId: string, position: string, limit: number): Promise<InboxRead>;
  /** The position of the newest entry (what a device that saw everything holds). */
  head(userId: string): Promise<string>;
}

interface Ring {
  /** Number of events[0]. */
  first: number;
  /** Shared event objects; positions are computed from `first`, not stored per entry. */
  events: ServerEvent[];
}

/**
 * Positions are "<run id>.<n>": a position from an earlier run (the ring is gone after a
 * restart) is recognised as unknown rather than mistaken for a current one.
 */
export function createMemoryInbox(capacity: number): Inbox {
  const run = randomBytes(4).toString('hex');
  const rings = new Map<string, Ring>();
  const ring = (userId: string): Ring => {
    let r = rings.get(userId);
    if (!r) {
      r = { first: 1, events: [] };
      rings.set(userId, r);
    }
    return r;
  };
  const lastN = (r: Ring) => r.first + r.events.length - 1;
  const parse = (position: string): number | null => {
    const dot = position.lastIndexOf('.');
    if (dot < 0 || position.slice(0, dot) !== run) return null;
    const n = Number(position.slice(dot + 1));
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  };

  function append(userId: string, event: ServerEvent): string {
    const r = ring(userId);
    r.events.push(event);
    // Trim in chunks so appends stay O(1) amortised.
    if (r.events.length > capacity + Math.max(1, capacity >> 3)) {
      const drop = r.events.length - capacity;
      r.events.splice(0, drop);
      r.first += drop;
    }
    return `${run}.${lastN(r)}`;
  }

  return {
    append: async (userId, event) => append(userId, event),
    async appendMany(userIds, event) {
      return userIds.map((userId) => {
        const position = append(userId, event);
        return { after: `${run}.${lastN(ring(userId)) - 1}`, position };
      });
    },
    async readAfter(userId, position, limit) {
      const r = ring(userId);
      const n = parse(position);
      if (n === null || n > lastN(r)) return { ok: false, reason: 'position_unknown' };
      if (n < r.first - 1) return { ok: false, reason: 'position_trimmed' };
      const from = n - r.first + 1;
      const entries = r.events
        .slice(from, from + limit)
        .map((event, i) => ({ position: `${run}.${n + 1 + i}`, event }));
      return { ok: true, entries };
    },
    async head(userId) {
      return `${run}.${lastN(ring(userId))}`;
    },
  };
}
