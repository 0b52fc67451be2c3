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
import { createFailureCounter } from './infra/rate-limit.js';

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
    const ctx: AppContext = {
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
    };
    const app = await buildApp(ctx, opts);
    await app.ready();
    return {
      app,
      ctx,
      close: async () => {
        await app.close();
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
