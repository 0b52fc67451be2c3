/**
 * Test databases. Each test file owns a fresh, empty database:
 * - PGlite in memory by default (the embedded mode);
 * - PostgreSQL when TEST_DATABASE_URL or DATABASE_URL is set: a new database
 *   `parley_test_<random>` on that server, dropped afterwards;
 * - PostgreSQL from testcontainers when nothing is set and Docker is reachable (jest's
 *   globalSetup starts one container and passes its URL on as TEST_DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DatabaseTarget } from '../../src/infra/db/client.js';

export type TestDbMode = 'pglite' | 'postgres';

/** The PostgreSQL server tests may create databases on, if any. */
export function postgresServerUrl(): string | undefined {
  return process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;
}

export function testDbMode(): TestDbMode {
  return postgresServerUrl() ? 'postgres' : 'pglite';
}

export interface TestDatabase {
  target: DatabaseTarget;
  drop(): Promise<void>;
}

export async function createTestDatabase(mode: TestDbMode = testDbMode()): Promise<TestDatabase> {
  if (mode === 'pglite') {
    return { target: { kind: 'pglite', dir: 'memory://' }, drop: async () => undefined };
  }
  const serverUrl = postgresServerUrl();
  if (!serverUrl) throw new Error('PostgreSQL mode needs TEST_DATABASE_URL or DATABASE_URL');
  return createPostgresDatabase(serverUrl);
}

export async function createPostgresDatabase(serverUrl: string): Promise<TestDatabase> {
  const name = `parley_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(serverUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    target: { kind: 'postgres', url: url.toString() },
    drop: async () => {
      await withAdmin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

async function withAdmin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const url = new URL(serverUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
