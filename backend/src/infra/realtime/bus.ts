/**
 * Fan-out between server nodes. Business code publishes "these users have new inbox
 * entries" or a moment-only event; every node's WebSocket gateway subscribes and pushes
 * to the sockets it holds. Embedded mode delivers in-process; a Redis pub/sub
 * implementation fits the same interface.
 */
import type { ServerEvent } from '@parley/contracts';
import type { EventTiming } from '../metrics.js';

export type BusMessage =
  /**
   * New entries in these users' inboxes: devices read them in order. With `event` and
   * `appended` (per user, in order: the position before the entry and the entry's), a
   * device at exactly that earlier position is given the event without a read. `timing`
   * (a committed event): when it committed and went into the inboxes, for the metrics.
   */
  | {
      kind: 'inbox';
      userIds: string[];
      event?: ServerEvent;
      appended?: [after: string, position: string][];
      timing?: EventTiming;
    }
  /** Typing and presence: pushed to whoever is connected, never stored. */
  | { kind: 'ephemeral'; userIds: string[]; event: ServerEvent }
  /** Signed out or revoked: close these sessions' sockets. */
  | { kind: 'close-sessions'; sessionIds: string[] }
  /** Cached membership or names of these chats and users changed: every node forgets them. */
  | { kind: 'invalidate'; chatIds?: string[]; userIds?: string[] };

export interface EventBus {
  publish(message: BusMessage): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(handler: (message: BusMessage) => void): () => void;
}

export function createInProcessBus(): EventBus {
  const handlers = new Set<(message: BusMessage) => void>();
  return {
    async publish(message) {
      for (const handler of handlers) handler(message);
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
  };
}
