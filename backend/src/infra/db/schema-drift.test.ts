/**
 * schema.prisma and the migrated database must agree: same tables, columns (type with
 * length/precision, nullability, default), primary keys, unique and plain indexes (column
 * lists in order) and foreign keys (columns, target, referential actions). The expected
 * side is built from schema.prisma by Prisma's own schema parser (wasm, no native engine);
 * the actual side is read from pg_catalog. See test/support/schema-introspection.ts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DATABASE_ONLY,
  type SchemaShape,
  SCHEMA_PATH,
  diffShapes,
  expectedShape,
  introspect,
} from '../../../test/support/schema-introspection.js';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from '../../../test/support/database.js';
import { type Database, type RawConnection, openDatabase } from './client.js';
import { migrate } from './migrate.js';

const targets: ['pglite' | 'postgres'][] = postgresServerUrl() ? [['pglite'], ['postgres']] : [['pglite']];
const schemaText = readFileSync(SCHEMA_PATH, 'utf8');

/** Runs `fn` inside a transaction that is always rolled back: the database is left as it was. */
async function inRolledBackTransaction<T>(db: Database, fn: (conn: RawConnection) => Promise<T>) {
  return db.withConnection(async (conn) => {
    await conn.exec('BEGIN');
    try {
      return await fn(conn);
    } finally {
      await conn.exec('ROLLBACK');
    }
  });
}

describe('the schema expected from schema.prisma', () => {
  const expected = expectedShape(schemaText);

  it('spells native types, nullability and defaults as PostgreSQL reports them', () => {
    const users = expected.tables.users!;
    expect(users.columns.id).toEqual({ type: 'uuid', nullable: false, default: null });
    expect(users.columns.username).toEqual({ type: 'character varying(32)', nullable: false, default: null });
    expect(users.columns.password_hash).toEqual({ type: 'text', nullable: false, default: null });
    expect(users.columns.status_text).toEqual({
      type: 'character varying(140)',
      nullable: false,
      default: '',
    });
    expect(users.columns.last_seen_at).toEqual({
      type: 'timestamp(3) with time zone',
      nullable: true,
      default: null,
    });
    expect(expected.tables.refresh_tokens!.columns.token_hash!.type).toBe('character(64)');
  });

  it('names keys and indexes the way prisma migrate does', () => {
    const sessions = expected.tables.sessions!;
    expect(sessions.primaryKey).toEqual({ name: 'sessions_pkey', columns: ['id'] });
    expect(sessions.indexes).toEqual({
      sessions_user_id_revoked_at_idx: {
        unique: false,
        method: 'btree',
        columns: ['user_id', 'revoked_at'],
        where: null,
      },
    });
    expect(sessions.foreignKeys).toEqual({
      sessions_user_id_fkey: {
        columns: ['user_id'],
        referencedTable: 'users',
        referencedColumns: ['id'],
        onDelete: 'CASCADE',
        onUpdate: 'CASCADE',
      },
    });
    expect(Object.keys(expected.tables.users!.indexes).sort()).toEqual([
      'users_email_key',
      'users_username_key',
    ]);
  });

  it('rejects a schema Prisma itself would reject', () => {
    const broken = schemaText.replace('@db.VarChar(32)', '@db.NoSuchType');
    expect(broken).not.toBe(schemaText);
    expect(() => expectedShape(broken)).toThrow(/does not validate/);
  });
});

describe.each(targets)('schema drift on %s', (mode) => {
  let testDb: TestDatabase;
  let db: Database;
  let expected: SchemaShape;

  beforeAll(async () => {
    testDb = await createTestDatabase(mode);
    db = await openDatabase(testDb.target);
    await migrate(db);
    expected = expectedShape(schemaText);
  });

  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('the migrated database matches schema.prisma', async () => {
    const actual = await db.withConnection(introspect);
    expect(diffShapes(expected, actual)).toEqual([]);
    // Not vacuous: both sides list the models' tables.
    expect(Object.keys(expected.tables)).toContain('users');
    expect(Object.keys(actual.tables).sort()).toEqual(Object.keys(expected.tables).sort());
  });

  it('has every database-only object the migrations declare (search columns and indexes)', async () => {
    const actual = await db.withConnection(introspect);
    expect(actual.databaseOnly).toEqual([...DATABASE_ONLY].sort());
    // Dropping one is noticed: the exemption does not hide a missing object.
    const afterDrop = await inRolledBackTransaction(db, async (conn) => {
      await conn.exec('DROP INDEX message_search_search_vector_idx');
      return introspect(conn);
    });
    expect(afterDrop.databaseOnly).toEqual(
      DATABASE_ONLY.filter((o) => o !== 'index message_search.message_search_search_vector_idx').sort(),
    );
  });

  it('reports an edit to schema.prisma that no migration follows', async () => {
    const editedText = schemaText.replace(/(\n\s*username\s+String\s+@unique\s+@db\.VarChar\()32\)/, '$140)');
    expect(editedText).not.toBe(schemaText);
    const edited = expectedShape(editedText);
    const actual = await db.withConnection(introspect);
    expect(diffShapes(edited, actual)).toEqual([
      'differs: column users.username: schema.prisma says character varying(40) NOT NULL; ' +
        'the database has character varying(32) NOT NULL',
    ]);
  });

  // Each statement runs on the migrated database inside a transaction that is rolled back,
  // so every case sees a pristine copy and the comparison must notice exactly this change.
  it.each([
    [
      'an extra column',
      'ALTER TABLE users ADD COLUMN extra text',
      ['not in schema.prisma: column users.extra: text NULL'],
    ],
    [
      'a longer varchar',
      'ALTER TABLE users ALTER COLUMN username TYPE varchar(33)',
      [
        'differs: column users.username: schema.prisma says character varying(32) NOT NULL; ' +
          'the database has character varying(33) NOT NULL',
      ],
    ],
    [
      'varchar instead of char',
      'ALTER TABLE refresh_tokens ALTER COLUMN token_hash TYPE varchar(64)',
      [
        'differs: column refresh_tokens.token_hash: schema.prisma says character(64) NOT NULL; ' +
          'the database has character varying(64) NOT NULL',
      ],
    ],
    [
      'another timestamp precision',
      'ALTER TABLE refresh_tokens ALTER COLUMN expires_at TYPE timestamptz(6)',
      [
        'differs: column refresh_tokens.expires_at: schema.prisma says timestamp(3) with time zone NOT NULL; ' +
          'the database has timestamp(6) with time zone NOT NULL',
      ],
    ],
    [
      'a NOT NULL on an optional field',
      'ALTER TABLE users ALTER COLUMN last_seen_at SET NOT NULL',
      [
        'differs: column users.last_seen_at: schema.prisma says timestamp(3) with time zone NULL; ' +
          'the database has timestamp(3) with time zone NOT NULL',
      ],
    ],
    [
      'a dropped default',
      'ALTER TABLE users ALTER COLUMN status_text DROP DEFAULT',
      [
        "differs: column users.status_text: schema.prisma says character varying(140) NOT NULL DEFAULT ''; " +
          'the database has character varying(140) NOT NULL',
      ],
    ],
    [
      'another default',
      "ALTER TABLE users ALTER COLUMN availability SET DEFAULT 'away'",
      [
        'differs: column users.availability: schema.prisma says character varying(16) NOT NULL DEFAULT available; ' +
          'the database has character varying(16) NOT NULL DEFAULT away',
      ],
    ],
    [
      'index columns in another order',
      'DROP INDEX sessions_user_id_revoked_at_idx; CREATE INDEX sessions_user_id_revoked_at_idx ON sessions (revoked_at, user_id)',
      [
        'differs: index sessions.sessions_user_id_revoked_at_idx: schema.prisma says btree (user_id, revoked_at); ' +
          'the database has btree (revoked_at, user_id)',
      ],
    ],
    [
      'a unique index turned plain',
      'DROP INDEX users_email_key; CREATE INDEX users_email_key ON users (email)',
      [
        'differs: index users.users_email_key: schema.prisma says UNIQUE btree (email); the database has btree (email)',
      ],
    ],
    [
      'a missing index',
      'DROP INDEX refresh_tokens_session_id_idx',
      ['missing from the database: index refresh_tokens.refresh_tokens_session_id_idx: btree (session_id)'],
    ],
    [
      'an extra partial index',
      'CREATE INDEX users_live_idx ON users (last_seen_at) WHERE last_seen_at IS NOT NULL',
      [
        'not in schema.prisma: index users.users_live_idx: btree (last_seen_at) WHERE (last_seen_at IS NOT NULL)',
      ],
    ],
    [
      'another ON DELETE action',
      'ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey; ' +
        'ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ' +
        'ON DELETE RESTRICT ON UPDATE CASCADE',
      [
        'differs: foreign key sessions.sessions_user_id_fkey: ' +
          'schema.prisma says (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE; ' +
          'the database has (user_id) REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE',
      ],
    ],
    [
      'a missing foreign key',
      'ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_session_id_fkey',
      [
        'missing from the database: foreign key refresh_tokens.refresh_tokens_session_id_fkey: ' +
          '(session_id) REFERENCES sessions (id) ON DELETE CASCADE ON UPDATE CASCADE',
      ],
    ],
    [
      'a renamed primary key',
      'ALTER TABLE users RENAME CONSTRAINT users_pkey TO users_pk',
      ['differs: primary key of users: schema.prisma says users_pkey (id); the database has users_pk (id)'],
    ],
    [
      'an extra table',
      'CREATE TABLE stray (id integer PRIMARY KEY)',
      [
        'not in schema.prisma: column stray.id: integer NOT NULL',
        'not in schema.prisma: primary key of stray: stray_pkey (id)',
        'not in schema.prisma: table stray: exists',
      ],
    ],
    [
      'an extra enum',
      "CREATE TYPE mood AS ENUM ('happy', 'sad')",
      ['not in schema.prisma: enum mood: (happy, sad)'],
    ],
  ] as [string, string, string[]][])('reports %s', async (_label, sql, lines) => {
    const diff = await inRolledBackTransaction(db, async (conn) => {
      await conn.exec(sql);
      return diffShapes(expected, await introspect(conn));
    });
    expect(diff).toEqual(lines);
    // The rollback restored the copy: the next case starts from a matching database.
    expect(diffShapes(expected, await db.withConnection(introspect))).toEqual([]);
  });

  // The current models use only a few of Prisma's mappings. This fixture covers the rest
  // (enums, lists, serial, Decimal, Float, Bytes, Json, @updatedAt, composite ids, `map:`
  // names, DESC and GIN indexes, SetNull defaults, implicit m-n tables) against DDL written
  // the way `prisma migrate dev` writes it.
  it('agrees with Prisma-style DDL for the mappings the current models do not use', async () => {
    const { diff, actual } = await inRolledBackTransaction(db, async (conn) => {
      await conn.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
      await conn.exec(FIXTURE_SQL);
      const actual = await introspect(conn);
      return { diff: diffShapes(expectedShape(FIXTURE_SCHEMA), actual), actual };
    });
    expect(diff).toEqual([]);
    // Not vacuous: the fixture's objects were there to compare.
    expect(Object.keys(actual.tables).sort()).toEqual(['Member', 'Person', '_PersonToTeam', 'teams']);
    expect(Object.keys(actual.tables.teams!.columns)).toHaveLength(17);
    expect(actual.tables.teams!.columns.role!.type).toBe('"Member Role"');
  });
});

const FIXTURE_SCHEMA = `
datasource db {
  provider = "postgresql"
}

enum Role {
  ADMIN
  MEMBER @map("member")

  @@map("Member Role")
}

model Team {
  id      Int      @id @default(autoincrement())
  slug    String   @unique(map: "team_slug_custom")
  tags    String[]
  role    Role     @default(MEMBER)
  ratio   Decimal
  score   Float    @default(1.5)
  blob    Bytes?
  big     BigInt   @default(-1)
  flags   Json?
  on      Boolean  @default(false)
  touched DateTime @updatedAt
  note    String   @default("it's") @db.Text
  a       String   @db.Char(3)
  b       Int      @db.SmallInt
  day     DateTime @db.Date
  money   Decimal  @db.Decimal(10, 2)
  small   Int[]    @db.SmallInt
  members Member[]
  people  Person[]

  @@unique([a, b])
  @@index([b(sort: Desc), a], map: "team_b_a_custom")
  @@index([flags], type: Gin)
  @@map("teams")
}

model Member {
  k1     String
  k2     Int
  teamId Int?  @map("team_id")
  team   Team? @relation(fields: [teamId], references: [id], map: "member_team_custom_fk", onUpdate: NoAction)

  @@id([k1, k2])
}

model Person {
  id    String @id @default(uuid()) @db.Uuid
  teams Team[]
}
`;

const FIXTURE_SQL = `
CREATE TYPE "Member Role" AS ENUM ('ADMIN', 'member');

CREATE TABLE "teams" (
    "id" SERIAL NOT NULL,
    "slug" TEXT NOT NULL,
    "tags" TEXT[],
    "role" "Member Role" NOT NULL DEFAULT 'member',
    "ratio" DECIMAL(65,30) NOT NULL,
    "score" DOUBLE PRECISION NOT NULL DEFAULT 1.5,
    "blob" BYTEA,
    "big" BIGINT NOT NULL DEFAULT -1,
    "flags" JSONB,
    "on" BOOLEAN NOT NULL DEFAULT false,
    "touched" TIMESTAMP(3) NOT NULL,
    "note" TEXT NOT NULL DEFAULT 'it''s',
    "a" CHAR(3) NOT NULL,
    "b" SMALLINT NOT NULL,
    "day" DATE NOT NULL,
    "money" DECIMAL(10,2) NOT NULL,
    "small" SMALLINT[],

    CONSTRAINT "teams_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Member" (
    "k1" TEXT NOT NULL,
    "k2" INTEGER NOT NULL,
    "team_id" INTEGER,

    CONSTRAINT "Member_pkey" PRIMARY KEY ("k1","k2")
);

CREATE TABLE "Person" (
    "id" UUID NOT NULL,

    CONSTRAINT "Person_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "_PersonToTeam" (
    "A" UUID NOT NULL,
    "B" INTEGER NOT NULL,

    CONSTRAINT "_PersonToTeam_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE UNIQUE INDEX "team_slug_custom" ON "teams"("slug");
CREATE INDEX "team_b_a_custom" ON "teams"("b" DESC, "a");
CREATE INDEX "teams_flags_idx" ON "teams" USING GIN ("flags");
CREATE UNIQUE INDEX "teams_a_b_key" ON "teams"("a", "b");
CREATE INDEX "_PersonToTeam_B_index" ON "_PersonToTeam"("B");

ALTER TABLE "Member" ADD CONSTRAINT "member_team_custom_fk" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE SET NULL ON UPDATE NO ACTION;
ALTER TABLE "_PersonToTeam" ADD CONSTRAINT "_PersonToTeam_A_fkey" FOREIGN KEY ("A") REFERENCES "Person"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_PersonToTeam" ADD CONSTRAINT "_PersonToTeam_B_fkey" FOREIGN KEY ("B") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;
`;
