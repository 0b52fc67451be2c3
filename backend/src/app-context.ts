/**
 * What every service needs, built once at start-up: config, database, rate-limit
 * counters. Handlers receive it; business code never reaches for globals.
 */
import type { Redis } from 'ioredis';
import type { Config } from './infra/config.js';
import type { Database } from './infra/db/client.js';
import type { FailureCounter } from './infra/rate-limit.js';

export interface AppContext {
  config: Config;
  db: Database;
  redis: Redis | undefined;
  loginFailures: FailureCounter;
  /** Injectable clock, so tests can move time. */
  now(): Date;
}
