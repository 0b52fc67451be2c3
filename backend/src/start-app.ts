/**
 * Wires the parts chosen by config (database, Redis, counters), migrates, and builds the
 * app. main.ts listens; tests call this with their own config.
 */
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { AppContext } from './app-context.js';
import { buildApp, type BuildOptions } from './app.js';
import type { Config } from './infra/config.js';
import { openDatabase } from './infra/db/client.js';
import { migrate } from './infra/db/migrate.js';
import { createExpirer } from './messages/expire-messages.js';
import { createDeliveryRecorder } from './messages/record-delivery.js';
import { createTypingTracker } from './realtime/typing.js';
import { createFailureCounter, createSendLimiter } from './infra/rate-limit.js';
import { createInProcessBus } from './infra/realtime/bus.js';
import { createMemoryInbox } from './infra/realtime/inbox.js';
import { createKeyedQueue } from './infra/realtime/keyed-queue.js';
import { createMemoryPresence } from './infra/realtime/presence.js';
import { createPublisher } from './infra/realtime/publisher.js';

export interface RunningApp {
  app: FastifyInstance;
  ctx: AppContext;
  /** Stops accepting requests, lets in-flight ones finish, then closes the parts. */
  close(): Promise<void>;
}

export interface StartOptions extends BuildOptions {
  now?: () => Date;
}

export async function startApp(config: Config, opts: StartOptions = {}): Promise<RunningApp> {
  const db = await openDatabase(config.database);
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 })
    : undefined;
  try {
    await migrate(db);
    // Fan-out and inbox are in-process in both database modes for now; the Redis versions
    // slot in here behind the same interfaces.
    const inbox = createMemoryInbox(config.inboxSize);
    const bus = createInProcessBus();
    const ctx = {
      config,
      db,
      redis,
      now: opts.now ?? (() => new Date()),
      loginFailures: createFailureCounter({
        name: 'login',
        maxFailures: config.login.maxFailures,
        windowSeconds: config.login.windowSeconds,
        redis,
      }),
      sendLimiter: createSendLimiter({
        name: 'send',
        perSecond: config.sendRate.perSecond,
        burstPerMinute: config.sendRate.burstPerMinute,
        redis,
      }),
      inbox,
      bus,
      events: createPublisher(inbox, bus),
      presence: createMemoryPresence(),
      chatQueue: createKeyedQueue(),
    } as Omit<AppContext, 'deliveries' | 'typing' | 'expirer'> as AppContext;
    // These two publish events, so they need the context they are part of.
    ctx.deliveries = createDeliveryRecorder(ctx);
    ctx.typing = createTypingTracker(ctx);
    ctx.expirer = createExpirer(ctx, config.expirySweepMs);
    const app = await buildApp(ctx, opts);
    await app.ready();
    return {
      app,
      ctx,
      close: async () => {
        await app.close();
        await ctx.deliveries.flush();
        ctx.typing.close();
        ctx.expirer.close();
        await db.close();
        redis?.disconnect();
      },
    };
  } catch (err) {
    await db.close().catch(() => undefined);
    redis?.disconnect();
    throw err;
  }
}
