/**
 * What every service needs, built once at start-up: config, database, the real-time
 * parts, the delivery pipeline, rate-limit counters. Handlers receive it; business code
 * never reaches for globals.
 */
import type { Budgets } from './infra/budgets.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { ChatDirectory } from './chats/chat-directory.js';
import type { Relay } from './events/relay.js';
import type { Config } from './infra/config.js';
import type { Database } from './infra/db/client.js';
import type { Foreground } from './infra/foreground.js';
import type { Metrics } from './infra/metrics.js';
import type { Passwords } from './auth/passwords.js';
import type { FailureCounter, SendLimiter } from './infra/rate-limit.js';
import type { EventBus } from './infra/realtime/bus.js';
import type { Inbox } from './infra/realtime/inbox.js';
import type { PresenceRegistry } from './infra/realtime/presence.js';
import type { EventPublisher } from './infra/realtime/publisher.js';
import type { MediaQueue } from './media/process-queue.js';
import type { AnalysisQueue } from './media/analysis/analysis-queue.js';
import type { Analyser } from './media/analysis/analyser.js';
import type { MediaSigner } from './media/signed-urls.js';
import type { WordList } from './search/word-list.js';
import type { SearchIndexer } from './search/search-index.js';
import type { MediaSweeper } from './media/sweep-media.js';
import type { Expirer } from './messages/expire-messages.js';
import type { ObjectStore } from './infra/object-store.js';
import type { VirusScanner } from './infra/virus-scanner.js';
import type { DeliveryRecorder } from './messages/record-delivery.js';
import type { SendPipeline } from './messages/send-pipeline.js';
import type { TypingTracker } from './realtime/typing.js';

/** The gateway, seen from start-up, shutdown and the Redis parts. */
export interface SocketHub {
  /** True from the start of a drain: readiness says 503 and new sockets are refused. */
  readonly draining: boolean;
  /**
   * Refuses new sockets, then closes the open ones (1001: reconnect, to another node), a few
   * at a time over `spreadMs`, each once the commands it had sent are answered.
   */
  drain(spreadMs: number): Promise<void>;
  /** Ends the sockets still open; resolves when every departure (presence, last seen) is done. */
  idle(): Promise<void>;
  /** Events may have been missed (the bus subscription was away): every socket reads its inbox. */
  catchUp(): void;
  /** Announces users whose presence another node's fate changed. */
  presenceChanged(change: { online: string[]; offline: string[] }): void;
}

export interface AppContext {
  config: Config;
  db: Database;
  redis: Redis | undefined;
  log: FastifyBaseLogger;
  metrics: Metrics;
  /** Failed sign-ins per account and address. */
  loginFailures: FailureCounter;
  /** Failed sign-ins per address, across accounts (password spraying). */
  loginAddressFailures: FailureCounter;
  /** Registration attempts per address. */
  registrations: FailureCounter;
  /** argon2, bounded by PASSWORD_HASH_CONCURRENCY. */
  passwords: Passwords;
  sendLimiter: SendLimiter;
  /** Per-user allowances for every other command type, REST write and REST read (per node). */
  budgets: Budgets;
  inbox: Inbox;
  bus: EventBus;
  /** Puts events into inboxes and wakes devices; only the relay (and ephemeral events) use it. */
  events: EventPublisher;
  /** Publishes what transactions committed, in order, and what crashed nodes left behind. */
  relay: Relay;
  /** This node's cache of chat membership and names. */
  directory: ChatDirectory;
  /** The lane for writes that take a chat's seq: group-committed sends and exclusive jobs. */
  pipeline: SendPipeline;
  /** Sends under way on this node, which background work steps aside for (media analysis). */
  foreground: Foreground;
  presence: PresenceRegistry;
  /** Set by the WebSocket gateway when it is registered: what the node's other parts ask of it. */
  sockets?: SocketHub;
  deliveries: DeliveryRecorder;
  typing: TypingTracker;
  expirer: Expirer;
  /** Where uploads and their variants are kept: DATA_DIR/media, or S3/MinIO. */
  objects: ObjectStore;
  /** clamd, when CLAMAV_HOST is set; else a scanner that scans nothing. */
  scanner: VirusScanner;
  /** Signs and checks download URLs. */
  mediaSigner: MediaSigner;
  /** Makes the variants of pending uploads. */
  mediaQueue: MediaQueue;
  /** Reads the text and objects of ready pictures (MEDIA_ANALYSIS). */
  mediaAnalysis: AnalysisQueue;
  /** The analysis processes that hold the models. */
  analyser: Analyser;
  /** Deletes the files of uploads nobody may see any more. */
  mediaSweeper: MediaSweeper;
  /** Moves sent messages into the search index (search-index.ts). */
  searchIndex: SearchIndexer;
  /** Keeps the words search corrects typos to. */
  wordList: WordList;
  /** Injectable clock, so tests can move time. */
  now(): Date;
}
