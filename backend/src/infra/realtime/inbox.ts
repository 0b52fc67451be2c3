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

export interface Inbox {
  /** Appends and returns the event's position. Positions of one user only grow. */
  append(userId: string, event: ServerEvent): Promise<string>;
  /** Entries after `position`, oldest first, at most `limit`. */
  readAfter(userId: string, position: string, limit: number): Promise<InboxRead>;
  /** The position of the newest entry (what a device that saw everything holds). */
  head(userId: string): Promise<string>;
}

interface Ring {
  /** Sequence number of entries[0]. */
  first: number;
  entries: InboxEntry[];
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
      r = { first: 1, entries: [] };
      rings.set(userId, r);
    }
    return r;
  };
  const lastN = (r: Ring) => r.first + r.entries.length - 1;
  const parse = (position: string): number | null => {
    const dot = position.lastIndexOf('.');
    if (dot < 0 || position.slice(0, dot) !== run) return null;
    const n = Number(position.slice(dot + 1));
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  };

  return {
    async append(userId, event) {
      const r = ring(userId);
      const n = lastN(r) + 1;
      const position = `${run}.${n}`;
      r.entries.push({ position, event });
      // Trim in chunks so appends stay O(1) amortised.
      if (r.entries.length > capacity + Math.max(1, capacity >> 3)) {
        const drop = r.entries.length - capacity;
        r.entries.splice(0, drop);
        r.first += drop;
      }
      return position;
    },
    async readAfter(userId, position, limit) {
      const r = ring(userId);
      const n = parse(position);
      if (n === null || n > lastN(r)) return { ok: false, reason: 'position_unknown' };
      if (n < r.first - 1) return { ok: false, reason: 'position_trimmed' };
      const from = n - r.first + 1;
      return { ok: true, entries: r.entries.slice(from, from + limit) };
    },
    async head(userId) {
      return `${run}.${lastN(ring(userId))}`;
    },
  };
}
