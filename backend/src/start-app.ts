/**
 * Wires the parts chosen by config (database, Redis, counters), migrates, and builds the
 * app. main.ts listens; tests call this with their own config.
 */
import { createBudgets } from './infra/budgets.js';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { AppContext } from './app-context.js';
import { buildApp } from './app.js';
import { createChatDirectory } from './chats/chat-directory.js';
import { createRelay } from './events/relay.js';
import type { Config } from './infra/config.js';
import { openDatabase } from './infra/db/client.js';
import { listenForControl, type ControlListener } from './infra/db/control-channel.js';
import { migrate } from './infra/db/migrate.js';
import { createLogger } from './infra/logging.js';
import { createMetrics, observeRedis } from './infra/metrics.js';
import { eventTypes } from '@parley/contracts';
import { checkReadiness } from './health/routes.js';
import { startNodeRegistry, type NodeRegistry } from './health/node-registry.js';
import { createPasswords } from './auth/passwords.js';
import { createFailureCounter, createSendLimiter } from './infra/rate-limit.js';
import { createWorkLimit } from './infra/work-limit.js';
import { createInProcessBus, type EventBus } from './infra/realtime/bus.js';
import { createMemoryInbox, type Inbox } from './infra/realtime/inbox.js';
import { createMemoryPresence, type PresenceRegistry } from './infra/realtime/presence.js';
import { createRedisBus, type RedisBus } from './infra/realtime/redis-bus.js';
import { createRedisInbox } from './infra/realtime/redis-inbox.js';
import { createRedisPresence, type RedisPresence } from './infra/realtime/redis-presence.js';
import { createPublisher } from './infra/realtime/publisher.js';
import { createClamdScanner } from './infra/clamd-scanner.js';
import { createObjectStore } from './infra/object-store-factory.js';
import { noScanner } from './infra/virus-scanner.js';
import { createMediaQueue } from './media/process-queue.js';
import { createAnalyser } from './media/analysis/analyser.js';
import { createForeground } from './infra/foreground.js';
import { createAnalysisQueue } from './media/analysis/analysis-queue.js';
import { createMediaSigner } from './media/signed-urls.js';
import { createMediaSweeper } from './media/sweep-media.js';
import { createExpirer } from './messages/expire-messages.js';
import { createSearchIndexer } from './search/search-index.js';
import { createWordList } from './search/word-list.js';
import { createDeliveryRecorder } from './messages/record-delivery.js';
import { findEarlier, sendInTransaction } from './messages/send-message.js';
import { createSendPipeline } from './messages/send-pipeline.js';
import { createTypingTracker } from './realtime/typing.js';

export interface RunningApp {
  app: FastifyInstance;
  ctx: AppContext;
  /**
   * Drains (readiness 503, new sockets refused, open ones sent away over SHUTDOWN_DRAIN_MS),
   * stops accepting requests, lets in-flight ones finish, then closes the parts.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  now?: () => Date;
  /** Where log lines go (stdout when unset); tests read them. */
  logStream?: { write(line: string): void };
}

export async function startApp(config: Config, opts: StartOptions = {}): Promise<RunningApp> {
  const metrics = createMetrics({ eventTypes });
  const db = await openDatabase(config.database, {
    poolSize: config.dbPool.size,
    acquireTimeoutMs: config.dbPool.acquireTimeoutMs,
    onQuery: (statement, seconds) => metrics.dbQuery.observe({ statement }, seconds),
  });
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 })
    : undefined;
  if (redis) observeRedis(redis, metrics.redisCommand);
  // Pub/sub needs a connection of its own (a subscribed connection runs no other command).
  const redisSub = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }) : undefined;
  let redisBus: RedisBus | undefined;
  let redisPresence: RedisPresence | undefined;
  let control: ControlListener | undefined;
  let registry: NodeRegistry | undefined;
  try {
    await migrate(db);
    const log = createLogger(config, opts.logStream);
    // With REDIS_URL the inbox, the fan-out between nodes and presence live in Redis,
    // shared by every node; without it, in this process.
    /** The context, once built (presence reports changes through it). */
    const late: { ctx?: AppContext } = {};
    let inbox: Inbox;
    let bus: EventBus;
    let presence: PresenceRegistry;
    if (redis && redisSub) {
      const prefix = config.redisKeyPrefix;
      const redisLog = log.child({ part: 'redis' });
      // While Redis is away ioredis reconnects (with backoff) and reports each failed try here.
      redis.on('error', (err) => redisLog.warn({ err: err.message }, 'redis connection failed; retrying'));
      redisSub.on('error', (err) => redisLog.warn({ err: err.message }, 'redis subscriber failed; retrying'));
      inbox = createRedisInbox(redis, {
        prefix: `${prefix}:inbox`,
        capacity: config.inboxSize,
        ttlSeconds: config.redisInboxTtlSeconds,
      });
      redisBus = createRedisBus(redis, redisSub, {
        channel: `${prefix}:bus`,
        onError: (err) => redisLog.warn({ err }, 'bus message dropped'),
      });
      await redisBus.ready();
      bus = redisBus;
      redisPresence = createRedisPresence(redis, {
        prefix: `${prefix}:presence`,
        onError: (err) => redisLog.warn({ err }, 'presence heartbeat failed'),
        ttlMs: config.redisPresenceTtlMs,
        // Users of a node that died (or of this one, back after being taken for dead).
        onChange: (change) => {
          redisLog.info({ online: change.online.length, offline: change.offline.length }, 'presence changed');
          late.ctx?.sockets?.presenceChanged(change);
        },
      });
      await redisPresence.start();
      presence = redisPresence;
    } else {
      inbox = createMemoryInbox(config.inboxSize);
      bus = createInProcessBus();
      presence = createMemoryPresence();
    }
    const now = opts.now ?? (() => new Date());
    const objects = createObjectStore(config.media.storage);
    await objects.init();
    const directory = createChatDirectory(db, {
      ttlMs: config.chatCacheTtlMs,
      now: () => now().getTime(),
    });
    // Every node forgets what another node's change made stale (and this node its own).
    const unsubscribe = bus.subscribe((m) => {
      if (m.kind === 'invalidate') directory.invalidate(m);
    });
    // Pub/sub keeps nothing for a subscriber that was away: once the subscription is back,
    // every cached chat is read afresh and every socket reads its inbox.
    // Orders from the admin CLI: on the Redis bus with REDIS_URL, else over LISTEN/NOTIFY.
    control =
      !redis && config.database.kind === 'postgres'
        ? listenForControl(
            config.database.url,
            (message) => void bus.publish(message),
            (err) => log.warn({ err }, 'control channel failed; listening again'),
          )
        : undefined;
    redisBus?.onResubscribed(() => {
      log.info({ part: 'redis' }, 'bus subscription back: catching up');
      directory.clear();
      late.ctx?.sockets?.catchUp();
    });
    const ctx = {
      config,
      db,
      redis,
      log,
      metrics,
      now,
      loginFailures: createFailureCounter({
        name: 'login',
        maxFailures: config.login.maxFailures,
        windowSeconds: config.login.windowSeconds,
        redis,
        prefix: config.redisKeyPrefix,
      }),
      loginAddressFailures: createFailureCounter({
        name: 'login-address',
        maxFailures: config.login.addressMaxFailures,
        windowSeconds: config.login.windowSeconds,
        redis,
        prefix: config.redisKeyPrefix,
      }),
      registrations: createFailureCounter({
        name: 'register-address',
        maxFailures: config.registration.perAddress,
        windowSeconds: config.registration.windowSeconds,
        redis,
        prefix: config.redisKeyPrefix,
      }),
      passwords: createPasswords(createWorkLimit(config.passwordHashing)),
      budgets: createBudgets(config.budgets),
      sendLimiter: createSendLimiter({
        name: 'send',
        perSecond: config.sendRate.perSecond,
        burstPerMinute: config.sendRate.burstPerMinute,
        redis,
        prefix: config.redisKeyPrefix,
      }),
      inbox,
      bus,
      directory,
      events: createPublisher(inbox, bus),
      presence,
      objects,
      scanner: config.clamav ? createClamdScanner(config.clamav) : noScanner,
      mediaSigner: createMediaSigner(config.jwt.secret, config.media.urlTtlSeconds),
      foreground: createForeground(),
    } as Omit<
      AppContext,
      | 'deliveries'
      | 'typing'
      | 'expirer'
      | 'relay'
      | 'pipeline'
      | 'mediaQueue'
      | 'mediaSweeper'
      | 'wordList'
      | 'searchIndex'
      | 'mediaAnalysis'
      | 'analyser'
    > as AppContext;
    late.ctx = ctx;
    // These work through the context they are part of.
    ctx.relay = createRelay(ctx, { ...config.outbox, log: log.child({ part: 'relay' }) });
    ctx.pipeline = createSendPipeline(ctx, {
      ...config.sendPipeline,
      log: log.child({ part: 'send-pipeline' }),
      sendSlow: (request) => sendInTransaction(ctx, request),
      findEarlier: (request) => findEarlier(ctx, request),
      onBatch: (size, seconds) => {
        metrics.sendBatchSize.observe(size);
        metrics.sendCommitSeconds.observe(seconds);
      },
    });
    ctx.deliveries = createDeliveryRecorder(ctx, config.receiptFlushMs);
    ctx.typing = createTypingTracker(ctx);
    ctx.expirer = createExpirer(ctx, config.expirySweepMs);
    ctx.mediaQueue = createMediaQueue(ctx);
    ctx.analyser = createAnalyser({
      processes: config.media.analysis.workers,
      timeoutMs: config.media.analysis.timeoutMs,
      labelMinScore: config.media.analysis.labelMinScore,
      nice: config.media.analysis.nice,
      foreground: ctx.foreground,
      onPaused: (seconds) => metrics.analysisPaused.inc(seconds),
    });
    ctx.mediaAnalysis = createAnalysisQueue(ctx, ctx.analyser);
    ctx.mediaSweeper = createMediaSweeper(ctx);
    ctx.searchIndex = createSearchIndexer(ctx, config.searchIndex);
    ctx.wordList = createWordList(ctx, config.searchWords);
    metrics.watch({
      dbStatements: () => db.statements,
      sendQueue: () => ctx.pipeline.queued,
      outbox: async () => {
        const [row] = await db.sql<{ rows: number; oldest: Date | null }>(OUTBOX_SIZE, []);
        const oldest = row?.oldest ? (Date.now() - row.oldest.getTime()) / 1000 : 0;
        return { rows: row?.rows ?? 0, oldestSeconds: Math.max(0, oldest) };
      },
      readiness: async () => (await checkReadiness(ctx)).ok,
      mediaPending: async () => (await db.sql<{ n: number }>(MEDIA_PENDING, []))[0]?.n ?? 0,
      analysisPending: async () => (await db.sql<{ n: number }>(ANALYSIS_PENDING, []))[0]?.n ?? 0,
    });
    const app = await buildApp(ctx);
    await app.ready();
    ctx.relay.start();
    ctx.mediaQueue.start();
    ctx.mediaAnalysis.start();
    // With Redis, this node reports itself for `npm run admin -- nodes`.
    registry =
      redis && redisPresence
        ? startNodeRegistry(redis, {
            prefix: config.redisKeyPrefix,
            id: redisPresence.nodeId,
            onError: (err) => log.warn({ err }, 'node report failed'),
            state: async () => {
              const { ok, checks } = await checkReadiness(ctx);
              metrics.readinessChecked(ok);
              const address = app.server.address();
              const connections = (await metrics.wsConnections.get()).values[0]?.value ?? 0;
              return {
                ready: ok,
                checks,
                connections,
                listening:
                  address && typeof address === 'object'
                    ? { address: address.address, port: address.port }
                    : undefined,
              };
            },
          })
        : undefined;
    return {
      app,
      ctx,
      close: async () => {
        // Readiness 503 and new sockets refused first; open ones sent to other nodes.
        await ctx.sockets?.drain(config.shutdownDrainMs);
        await app.close();
        await ctx.sockets?.idle();
        await ctx.pipeline.drain();
        ctx.mediaSweeper.close();
        ctx.wordList.close();
        await ctx.searchIndex.close();
        await ctx.mediaQueue.close();
        await ctx.mediaAnalysis.close();
        await ctx.analyser.close();
        await ctx.deliveries.flush();
        await ctx.relay.close();
        await registry?.stop().catch(() => undefined);
        unsubscribe();
        await control?.close();
        ctx.typing.close();
        ctx.expirer.close();
        await db.close();
        await redisPresence?.stop().catch(() => undefined);
        await redisBus?.close().catch(() => undefined);
        redisSub?.disconnect();
        redis?.disconnect();
      },
    };
  } catch (err) {
    await control?.close();
    await db.close().catch(() => undefined);
    await redisPresence?.stop().catch(() => undefined);
    await redisBus?.close().catch(() => undefined);
    redisSub?.disconnect();
    redis?.disconnect();
    throw err;
  }
}

/** Uploads waiting for the media queue, for /metrics (counted up to 100,000). */
const MEDIA_PENDING = {
  name: 'media-pending',
  text: `SELECT count(*)::int AS n
    FROM (SELECT 1 FROM media WHERE status = 'pending' AND deleted_at IS NULL LIMIT 100000) m`,
};

/** Pictures waiting for media analysis, for /metrics (counted up to 100,000). */
const ANALYSIS_PENDING = {
  name: 'analysis-pending',
  text: `SELECT count(*)::int AS n
    FROM (SELECT 1 FROM media_analysis WHERE status = 'pending' LIMIT 100000) a`,
};

/** The outbox's size for /metrics (counted up to 100,000 rows: a scrape stays cheap however far behind). */
const OUTBOX_SIZE = {
  name: 'outbox-size',
  text: `SELECT count(*)::int AS rows, min(created_at) AS oldest
    FROM (SELECT created_at FROM outbox ORDER BY id LIMIT 100000) o`,
};
