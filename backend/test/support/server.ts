/**
 * A real Parley server on a loopback port over a fresh database, for tests that talk
 * HTTP like any client. Logs are captured so tests can check what is (not) logged.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/infra/config.js';
import type { DatabaseTarget } from '../../src/infra/db/client.js';
import { startApp, type RunningApp } from '../../src/start-app.js';
import { createTestDatabase } from './database.js';
import { startS3, type RunningS3 } from './s3.js';

export interface TestServer {
  url: string;
  running: RunningApp;
  config: Config;
  logs: string[];
  clock: TestClock;
  close(): Promise<void>;
}

/** A clock tests move by hand; it follows real time until frozen. */
export class TestClock {
  private offsetMs = 0;
  now = (): Date => new Date(Date.now() + this.offsetMs);
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface TestServerOptions {
  /** Reach the test database another way (e.g. through a proxy that breaks connections). */
  database?: (target: DatabaseTarget) => Promise<DatabaseTarget>;
}

/** The settings of a test server: loopback, tests' deadlines (for tests that start one their own way). */
export function testServerEnv(): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: '/tmp/parley-test-unused',
    // Most tests open direct chats between strangers and talk at length; chat requests
    // (the default policy) have their own tests, which set it back.
    DIRECT_CHAT_POLICY: 'open',
    // Deadlines meant for real outages, not for a busy test machine: a socket authenticates
    // and a queued send commits however slowly the machine runs. Tests of these deadlines
    // set their own.
    WS_AUTH_TIMEOUT_MS: '60000',
    SEND_QUEUE_TIMEOUT_MS: '120000',
    // Closing a test server sends its sockets away at once (drain tests set their own).
    SHUTDOWN_DRAIN_MS: '0',
    // Every test user registers and signs in from 127.0.0.1: the per-address limits would
    // stop a test file half way. The tests of these limits set their own.
    REGISTER_ADDRESS_MAX: '1000000',
    LOGIN_ADDRESS_MAX_FAILURES: '1000000',
    // Tests register hundreds of users at once: they wait their turn for argon2 instead of
    // being turned away (the test of the bound sets its own).
    PASSWORD_HASH_QUEUE_MAX: '100000',
    PASSWORD_HASH_WAIT_MS: '120000',
    // Reading pictures (OCR, labels) loads models of a few hundred MB per server: only the
    // tests of media analysis switch it on.
    MEDIA_ANALYSIS: 'off',
    // At the lowest priority (19) the analysis gets about 1 % of a core beside other work at
    // the normal one (a busy test machine): waiting for a picture to be read would be a test
    // of speed. The priority changes how fast, not what is read.
    MEDIA_ANALYSIS_NICE: '0',
  };
}

export async function startTestServer(
  env: Record<string, string> = {},
  opts: TestServerOptions = {},
): Promise<TestServer> {
  const db = await createTestDatabase();
  // Uploads go to a directory of this server's own (removed on close), or, with
  // TEST_MEDIA_STORAGE=s3, to an S3 endpoint (s3rver) of its own.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'parley-test-data-'));
  let s3: RunningS3 | undefined;
  // A test that needs local files passes S3_ENDPOINT: '' (its own S3 settings: a URL).
  if (process.env.TEST_MEDIA_STORAGE === 's3' && !('S3_ENDPOINT' in env)) s3 = await startS3();
  const redisPrefix = `parley-test-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    ...testServerEnv(),
    // With REDIS_URL set for the run, the inbox, bus and presence are Redis's, under keys
    // of this server only (removed on close).
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, REDIS_KEY_PREFIX: redisPrefix } : {}),
    DATA_DIR: dataDir,
    ...(s3
      ? {
          S3_ENDPOINT: `http://${s3.settings.endPoint}:${s3.settings.port}`,
          S3_BUCKET: s3.settings.bucket,
          S3_ACCESS_KEY: s3.settings.accessKey,
          S3_SECRET_KEY: s3.settings.secretKey,
        }
      : {}),
    ...env,
  });
  config.database = opts.database ? await opts.database(db.target) : db.target;
  const logs: string[] = [];
  const clock = new TestClock();
  let running: RunningApp;
  try {
    running = await startApp(config, {
      now: clock.now,
      logStream: { write: (line) => void logs.push(line) },
    });
  } catch (err) {
    await s3?.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  await running.app.listen({ host: '127.0.0.1', port: 0 });
  const address = running.app.server.address();
  if (!address || typeof address === 'string') throw new Error('server did not bind');
  return {
    url: `http://127.0.0.1:${address.port}`,
    running,
    config,
    logs,
    clock,
    close: async () => {
      await running.close();
      await db.drop();
      await s3?.stop();
      await rm(dataDir, { recursive: true, force: true });
      if (config.redisUrl && config.redisKeyPrefix === redisPrefix)
        await dropRedisKeys(config.redisUrl, redisPrefix);
    },
  };
}

/** Deletes every key under `prefix` (never anything else: the Redis may be shared). */
export async function dropRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
