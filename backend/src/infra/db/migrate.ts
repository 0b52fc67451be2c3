/**
 * Applies prisma/migrations/<name>/migration.sql in name order, recording each in Prisma's
 * `_prisma_migrations` table with Prisma's columns and checksum (SHA-256 of the file), so
 * `prisma migrate deploy` stays compatible where the native engine exists.
 *
 * - Re-running applies nothing new.
 * - An applied migration whose file changed since is an error (checksum mismatch).
 * - A migration that failed half-way (finished_at and rolled_back_at both null) is an error.
 * - Each migration runs in its own transaction; an advisory lock keeps concurrent nodes
 *   from applying the same migration twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database, RawConnection } from './client.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * prisma/migrations of the repository, seen from backend/src/infra/db/, or from
 * backend/dist/ in the production build (scripts/build-server.mjs).
 */
export const DEFAULT_MIGRATIONS_DIR =
  [path.resolve(here, '../../../../prisma/migrations'), path.resolve(here, '../../prisma/migrations')].find(
    (dir) => existsSync(dir),
  ) ?? path.resolve(here, '../../../../prisma/migrations');

// Arbitrary constant shared by every Parley node: "parley migrations".
const ADVISORY_LOCK_KEY = 727_465_301;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

export async function readMigrations(dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: checksumOf(sql) };
    }),
  );
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
  /** Recorded in the database but absent here (a newer node ran them). */
  unknown: string[];
}

export async function migrate(db: Database, dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrateResult> {
  const files = await readMigrations(dir);
  return db.withConnection(async (conn) => {
    await conn.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    try {
      return await applyPending(conn, files);
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]);
    }
  });
}

async function applyPending(conn: RawConnection, files: MigrationFile[]): Promise<MigrateResult> {
  await conn.exec(CREATE_TABLE);
  const rows = await conn.query<AppliedRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"',
  );
  const done = new Map<string, AppliedRow>();
  for (const row of rows) {
    if (row.rolled_back_at !== null) continue;
    if (row.finished_at === null) {
      throw new MigrationError(
        `Migration ${row.migration_name} started but did not finish. Fix the database by hand, ` +
          `then mark it rolled back in _prisma_migrations.`,
      );
    }
    done.set(row.migration_name, row);
  }
  const result: MigrateResult = { applied: [], alreadyApplied: 0, unknown: [] };
  const known = new Set(files.map((f) => f.name));
  result.unknown = [...done.keys()].filter((n) => !known.has(n));
  for (const file of files) {
    const row = done.get(file.name);
    if (row) {
      if (row.checksum !== file.checksum) {
        throw new MigrationError(
          `Migration ${file.name} was changed after it was applied (checksum ${row.checksum} ` +
            `in the database, ${file.checksum} on disk). Never edit an applied migration; add a new one.`,
        );
      }
      result.alreadyApplied += 1;
      continue;
    }
    await applyOne(conn, file);
    result.applied.push(file.name);
  }
  return result;
}

async function applyOne(conn: RawConnection, file: MigrationFile): Promise<void> {
  const id = randomUUID();
  await conn.exec('BEGIN');
  try {
    await conn.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), 0)`,
      [id, file.checksum, file.name],
    );
    await conn.exec(file.sql);
    await conn.query(
      `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await conn.exec('COMMIT');
  } catch (err) {
    await conn.exec('ROLLBACK').catch(() => undefined);
    throw new MigrationError(`Migration ${file.name} failed and was rolled back: ${(err as Error).message}`);
  }
}

/** Names of migrations on disk that the database has not applied (for /health/ready). */
export async function pendingMigrations(db: Database, dir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const files = await readMigrations(dir);
  const rows = await db.withConnection(async (conn) => {
    // A database that was never migrated has no table yet: everything is pending.
    const [table] = await conn.query<{ t: string | null }>(
      `SELECT to_regclass('public._prisma_migrations')::text AS t`,
    );
    if (!table?.t) return [];
    return conn.query<{ migration_name: string }>(
      `SELECT migration_name FROM "_prisma_migrations"
       WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
  });
  const applied = new Set(rows.map((r) => r.migration_name));
  return files.map((f) => f.name).filter((n) => !applied.has(n));
}
