/**
 * The one way events reach users: lasting events go into each recipient's inbox first,
 * then the bus wakes their devices; moment-only events (typing, presence) go straight to
 * connected devices. Business code does not call it directly: it records events in the
 * outbox (events/outbox.ts) and the relay publishes them here after the commit.
 */
import { ephemeralEventTypes, type ServerEvent } from '@parley/contracts';
import type { EventBus } from './bus.js';
import type { Inbox } from './inbox.js';

export interface EventPublisher {
  /**
   * With `committedAt` (an event the relay publishes after its commit), the time it went
   * into the inboxes goes along to the devices' nodes, for the delivery metrics.
   */
  toUsers(userIds: readonly string[], event: ServerEvent, opts?: { committedAt?: number }): Promise<void>;
  closeSessions(sessionIds: readonly string[]): Promise<void>;
}

const ephemeral = new Set<string>(ephemeralEventTypes);

export function createPublisher(inbox: Inbox, bus: EventBus): EventPublisher {
  return {
    async toUsers(userIds, event, opts) {
      const unique = [...new Set(userIds)];
      if (unique.length === 0) return;
      if (ephemeral.has(event.type)) {
        await bus.publish({ kind: 'ephemeral', userIds: unique, event });
        return;
      }
      const appended = await inbox.appendMany(unique, event);
      const committedAt = opts?.committedAt;
      await bus.publish({
        kind: 'inbox',
        userIds: unique,
        event,
        appended: appended.map((a) => [a.after, a.position]),
        ...(committedAt !== undefined ? { timing: { committedAt, publishedAt: Date.now() } } : {}),
      });
    },
    async closeSessions(sessionIds) {
      if (sessionIds.length > 0) await bus.publish({ kind: 'close-sessions', sessionIds: [...sessionIds] });
    },
  };
}
