/**
 * What every service needs, built once at start-up: config, database, the real-time
 * parts, rate-limit counters. Handlers receive it; business code never reaches for globals.
 */
import type { Redis } from 'ioredis';
import type { Config } from './infra/config.js';
import type { Expirer } from './messages/expire-messages.js';
import type { DeliveryRecorder } from './messages/record-delivery.js';
import type { TypingTracker } from './realtime/typing.js';
import type { Database } from './infra/db/client.js';
import type { FailureCounter, SendLimiter } from './infra/rate-limit.js';
import type { EventBus } from './infra/realtime/bus.js';
import type { Inbox } from './infra/realtime/inbox.js';
import type { KeyedQueue } from './infra/realtime/keyed-queue.js';
import type { PresenceRegistry } from './infra/realtime/presence.js';
import type { EventPublisher } from './infra/realtime/publisher.js';

export interface AppContext {
  config: Config;
  db: Database;
  redis: Redis | undefined;
  loginFailures: FailureCounter;
  sendLimiter: SendLimiter;
  inbox: Inbox;
  bus: EventBus;
  events: EventPublisher;
  presence: PresenceRegistry;
  deliveries: DeliveryRecorder;
  typing: TypingTracker;
  expirer: Expirer;
  /** Per-chat ordering of commit-then-publish on this node. */
  chatQueue: KeyedQueue;
  /** Injectable clock, so tests can move time. */
  now(): Date;
}
