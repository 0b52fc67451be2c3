/**
 * The migration runner against real databases: what it records (Prisma's
 * `_prisma_migrations`, so `prisma migrate deploy` can take over), re-runs, edited and
 * broken migrations, pending detection and concurrent start-ups.
 */
import { createHash, randomUUID } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from '../../../test/support/database.js';
import { type Database, openDatabase } from './client.js';
import { DEFAULT_MIGRATIONS_DIR, MigrationError, migrate, pendingMigrations } from './migrate.js';

const targets: ['pglite' | 'postgres'][] = postgresServerUrl() ? [['pglite'], ['postgres']] : [['pglite']];

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | string | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | string | null;
  started_at: Date | string;
  applied_steps_count: number;
}

/** Migration directories on disk, read independently of the runner. */
async function migrationNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

async function sha256OfFile(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

async function rows(db: Database): Promise<MigrationRow[]> {
  return db.withConnection((c) =>
    c.query<MigrationRow>('SELECT * FROM "_prisma_migrations" ORDER BY migration_name, started_at'),
  );
}

async function tableExists(db: Database, name: string): Promise<boolean> {
  const [row] = await db.withConnection((c) =>
    c.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [`public.${name}`]),
  );
  return row?.oid != null;
}

async function addMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

describe.each(targets)('migrate() on %s', (mode) => {
  const testDbs: TestDatabase[] = [];
  const handles: Database[] = [];
  const tmpDirs: string[] = [];

  /** A fresh, empty database owned by one test (closed and dropped after it). */
  async function freshDatabase(): Promise<{ db: Database; testDb: TestDatabase }> {
    const testDb = await createTestDatabase(mode);
    testDbs.push(testDb);
    return { db: await open(testDb), testDb };
  }

  async function open(testDb: TestDatabase): Promise<Database> {
    const db = await openDatabase(testDb.target);
    handles.push(db);
    return db;
  }

  /** A scratch copy of prisma/migrations that a test may edit. */
  async function copyOfMigrations(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'parley-migrations-'));
    tmpDirs.push(dir);
    await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
    return dir;
  }

  // Each test's databases go when it ends: a PGlite instance holds tens of MB.
  afterEach(async () => {
    await Promise.allSettled(handles.splice(0).map((h) => h.close()));
    await Promise.allSettled(testDbs.splice(0).map((t) => t.drop()));
    await Promise.allSettled(tmpDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('applies every migration to a fresh database and records it as Prisma does', async () => {
    const { db } = await freshDatabase();
    const names = await migrationNames(DEFAULT_MIGRATIONS_DIR);
    expect(names.length).toBeGreaterThan(0);

    const result = await migrate(db);

    expect(result).toEqual({ applied: names, alreadyApplied: 0, unknown: [] });
    const recorded = await rows(db);
    expect(recorded.map((r) => r.migration_name)).toEqual(names);
    for (const row of recorded) {
      const file = path.join(DEFAULT_MIGRATIONS_DIR, row.migration_name, 'migration.sql');
      expect(row.checksum).toBe(await sha256OfFile(file));
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(row.finished_at).not.toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.logs).toBeNull();
      expect(row.applied_steps_count).toBe(1);
      expect(new Date(row.finished_at!).getTime()).toBeGreaterThanOrEqual(new Date(row.started_at).getTime());
    }
    // The migrations' tables are there.
    for (const table of ['users', 'sessions', 'refresh_tokens'])
      expect(await tableExists(db, table)).toBe(true);
  });

  it("creates _prisma_migrations with Prisma's own column types", async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    const columns = await db.withConnection((c) =>
      c.query<{ name: string; type: string; not_null: boolean }>(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
         FROM pg_attribute a WHERE a.attrelid = 'public._prisma_migrations'::regclass
           AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      ),
    );
    // As prisma-engines' schema engine creates it for PostgreSQL.
    expect(columns).toEqual([
      { name: 'id', type: 'character varying(36)', not_null: true },
      { name: 'checksum', type: 'character varying(64)', not_null: true },
      { name: 'finished_at', type: 'timestamp with time zone', not_null: false },
      { name: 'migration_name', type: 'character varying(255)', not_null: true },
      { name: 'logs', type: 'text', not_null: false },
      { name: 'rolled_back_at', type: 'timestamp with time zone', not_null: false },
      { name: 'started_at', type: 'timestamp with time zone', not_null: true },
      { name: 'applied_steps_count', type: 'integer', not_null: true },
    ]);
  });

  it('a second run applies nothing and records nothing', async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    const before = await rows(db);

    const again = await migrate(db);

    expect(again).toEqual({ applied: [], alreadyApplied: before.length, unknown: [] });
    expect(await rows(db)).toEqual(before);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const { db } = await freshDatabase();
    const dir = await copyOfMigrations();
    await migrate(db, dir);
    const before = await rows(db);
    const [first] = await migrationNames(dir);
    await appendFile(path.join(dir, first!, 'migration.sql'), '\n-- edited after it was applied\n');

    const err = await migrate(db, dir).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/checksum/);
    expect((err as Error).message).toContain(first!);
    expect(await rows(db)).toEqual(before);
    expect(await pendingMigrations(db, dir)).toEqual([]);
  });

  it('rolls back a migration that fails half-way and applies it once fixed', async () => {
    const { db } = await freshDatabase();
    const dir = await copyOfMigrations();
    const names = await migrationNames(dir);
    const broken = '99990101000000_broken';
    await addMigration(
      dir,
      broken,
      'CREATE TABLE "half_done" ("id" INTEGER NOT NULL);\nINSERT INTO "users" ("no_such_column") VALUES (1);\n',
    );

    const err = await migrate(db, dir).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toContain(broken);
    expect((err as Error).message).toMatch(/rolled back/);
    expect(await tableExists(db, 'half_done')).toBe(false);
    // The earlier migrations committed on their own; the broken one left no row at all.
    const recorded = await rows(db);
    expect(recorded.map((r) => r.migration_name)).toEqual(names);
    expect(recorded.every((r) => r.finished_at !== null)).toBe(true);
    expect(await pendingMigrations(db, dir)).toEqual([broken]);

    await writeFile(
      path.join(dir, broken, 'migration.sql'),
      'CREATE TABLE "half_done" ("id" INTEGER NOT NULL);\n',
    );
    expect(await migrate(db, dir)).toEqual({ applied: [broken], alreadyApplied: names.length, unknown: [] });
    expect(await tableExists(db, 'half_done')).toBe(true);
  });

  it('pendingMigrations lists a new migration until it is applied', async () => {
    const { db } = await freshDatabase();
    const dir = await copyOfMigrations();
    // Never migrated: everything is pending (and asking does not fail).
    expect(await pendingMigrations(db, dir)).toEqual(await migrationNames(dir));
    await migrate(db, dir);
    expect(await pendingMigrations(db, dir)).toEqual([]);

    const added = '99990101000000_add_probe';
    await addMigration(dir, added, 'CREATE TABLE "pending_probe" ("id" INTEGER NOT NULL);\n');
    expect(await pendingMigrations(db, dir)).toEqual([added]);
    expect(await pendingMigrations(db, dir)).toEqual([added]); // asking applies nothing
    expect(await tableExists(db, 'pending_probe')).toBe(false);

    const result = await migrate(db, dir);
    expect(result.applied).toEqual([added]);
    expect(await pendingMigrations(db, dir)).toEqual([]);
    // A node with the older migrations folder sees the newer one as unknown, not pending.
    expect(await migrate(db)).toEqual({
      applied: [],
      alreadyApplied: (await migrationNames(DEFAULT_MIGRATIONS_DIR)).length,
      unknown: [added],
    });
    expect(await pendingMigrations(db)).toEqual([]);
  });

  it('stops at a migration that started but never finished, until it is marked rolled back', async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    const crashed = '99990101000000_crashed';
    const id = randomUUID();
    await db.withConnection((c) =>
      c.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), 0)`,
        [id, '0'.repeat(64), crashed],
      ),
    );

    await expect(migrate(db)).rejects.toThrow(/did not finish/);

    // What `prisma migrate resolve --rolled-back` does.
    await db.withConnection((c) =>
      c.query('UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE id = $1', [id]),
    );
    const result = await migrate(db);
    expect(result.applied).toEqual([]);
    expect(result.unknown).toEqual([]);
  });

  it('concurrent runs apply each migration exactly once', async () => {
    const { db, testDb } = await freshDatabase();
    // PostgreSQL: a second pool on the same database, as a second node would have.
    // PGlite is one in-process connection: both runs share the handle.
    const other = mode === 'postgres' ? await open(testDb) : db;
    const dir = await copyOfMigrations();
    // A slow migration keeps the first run busy while the second one starts.
    await addMigration(
      dir,
      '99990101000000_slow',
      'SELECT pg_sleep(0.5);\nCREATE TABLE "slow_probe" ("id" INTEGER);\n',
    );
    const names = await migrationNames(dir);

    const results = await Promise.all([migrate(db, dir), migrate(other, dir)]);

    expect(results.flatMap((r) => r.applied).sort()).toEqual(names);
    expect(results.map((r) => r.applied.length).sort((x, y) => x - y)).toEqual([0, names.length]);
    const recorded = await rows(db);
    expect(recorded.map((r) => r.migration_name)).toEqual(names);
    expect(recorded.every((r) => r.finished_at !== null && r.applied_steps_count === 1)).toBe(true);
  });
});
