/**
 * scripts/backup.sh and scripts/restore.sh, as an operator runs them: an installation
 * filled through the API (users, a group and a direct chat, messages, an edit, a delete,
 * reactions, pictures), backed up, restored into a fresh database and a fresh object store,
 * and compared — every table's row count and checksum, every object's SHA-256 — then served
 * again by a server that signs the same user in and hands out the same pictures.
 *
 * PostgreSQL mode: backed up while the server runs, files on the local store and on S3
 * (s3rver). Embedded mode: the backup refuses while the server holds the database, and
 * works once it stopped.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type DatabaseTarget } from '../../src/infra/db/client.js';
import {
  createPostgresDatabase,
  postgresServerUrl,
  testDbMode,
  type TestDatabase,
} from '../support/database.js';
import { createGroup, openDirectChat, registerUsers, sendText, type TestUser } from '../support/factories.js';
import { client, type Client } from '../support/http.js';
import { download, pngImage, sendWithAttachments, settled, uploaded } from '../support/media.js';
import { startS3, type RunningS3 } from '../support/s3.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const WAIT = 120_000;
const postgres = testDbMode() === 'postgres';

interface Run {
  code: number;
  out: string;
  err: string;
}

function script(name: 'backup.sh' | 'restore.sh', args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(repoRoot, 'scripts', name), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

/** What a test installation holds, made through the API. */
interface Filled {
  owner: TestUser;
  groupId: string;
  pictureIds: string[];
}

async function fill(server: TestServer): Promise<Filled> {
  const api = client(server.url);
  const [owner, ben, cai] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
  const group = await createGroup(api, owner, [ben, cai]);
  const direct = await openDirectChat(api, owner, ben);
  const sent: { id: string }[] = [];
  for (let n = 0; n < 12; n++)
    sent.push(await sendText(api, n % 3 ? owner : ben, n % 2 ? direct.id : group.id, `message ${n} 💬`));
  const as = (u: TestUser) => ({ token: u.accessToken });
  expect((await api.post(`/api/messages/${sent[0]!.id}/reactions`, { emoji: '👍' }, as(cai))).status).toBe(
    200,
  );
  expect((await api.post(`/api/messages/${sent[0]!.id}/reactions`, { emoji: '🎉' }, as(owner))).status).toBe(
    200,
  );
  expect((await api.put(`/api/messages/${sent[1]!.id}`, { body: 'edited' }, as(owner))).status).toBe(200);
  expect((await api.del(`/api/messages/${sent[2]!.id}?scope=everyone`, as(owner))).status).toBe(204);
  const pictureBytes = [await pngImage(64, 48), await pngImage(120, 80)];
  const pictureIds: string[] = [];
  for (const bytes of pictureBytes) {
    const media = await uploaded(server.url, owner, bytes, { name: 'p.png', type: 'image/png' });
    expect((await settled(api, owner, media.id)).status).toBe('ready');
    pictureIds.push(media.id);
  }
  expect((await sendWithAttachments(api, owner, group.id, pictureIds, 'pictures')).status).toBe(201);
  // Quiet before the comparison: published events leave the outbox, receipts are written.
  const probe = await openDatabaseOf(server);
  await waitUntil(
    'the outbox to empty',
    async () =>
      Number(
        (await probe.sql<{ n: number }>({ text: 'SELECT count(*)::int AS n FROM outbox' }, []))[0]!.n,
      ) === 0,
    WAIT,
    100,
  );
  // … and the search index has taken in every message (its job would otherwise move a queued
  // message into message_search between the checksums and the dump).
  await server.running.ctx.searchIndex.drain();
  return { owner, groupId: group.id, pictureIds };
}

/** The running server's own database handle (never a second connection to PGlite). */
function openDatabaseOf(server: TestServer) {
  return server.running.ctx.db;
}

/** Every table of the public schema: rows and a checksum of their contents. */
async function tableSums(
  query: (sql: string) => Promise<Record<string, unknown>[]>,
): Promise<Record<string, string>> {
  const tables = (
    await query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
  ).map((r) => r.tablename as string);
  const sums: Record<string, string> = {};
  for (const table of tables) {
    const [row] = await query(
      `SELECT count(*)::int AS n, coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') AS sum FROM "${table}" t`,
    );
    sums[table] = `${row!.n as number} rows ${row!.sum as string}`;
  }
  return sums;
}

async function sumsOf(target: DatabaseTarget): Promise<Record<string, string>> {
  const db = await openDatabase(target);
  try {
    return await db.withConnection((c) => tableSums((sql) => c.query(sql)));
  } finally {
    await db.close();
  }
}

/** SHA-256 of every file under `dir`, by relative path. */
function fileHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (at: string, rel: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      const key = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(full, key);
      else if (!entry.name.startsWith('.'))
        out[key] = createHash('sha256').update(readFileSync(full)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

/** The backup directory the script printed (its last line of standard output). */
const backupDir = (run: Run) => run.out.trim().split('\n').at(-1)!;

/** A server on the restored database and files signs the owner in and serves the pictures. */
async function expectServedAgain(
  filled: Filled,
  env: Record<string, string>,
  target: DatabaseTarget,
  objectHashes: Set<string>,
) {
  const again = await startTestServer(env, { database: async () => target });
  try {
    const api = client(again.url);
    const login = await api.post('/api/auth/login', {
      login: filled.owner.username,
      password: filled.owner.password,
    });
    expect(login.status).toBe(200);
    const page = await api.get(`/api/chats/${filled.groupId}/messages?limit=50`, {
      token: login.body.accessToken,
    });
    expect(page.status).toBe(200);
    const withPictures = page.body.messages.find((m: any) => m.attachments?.length === 2);
    expect(withPictures.body).toBe('pictures');
    // Every variant comes back as it was stored.
    for (const id of filled.pictureIds) {
      const media = (await api.get(`/api/media/${id}`, { token: login.body.accessToken })).body;
      expect(Object.keys(media.urls).length).toBeGreaterThan(0);
      for (const url of Object.values(media.urls) as string[]) {
        const file = await download(again.url, url);
        expect(file.status).toBe(200);
        expect(objectHashes.has(createHash('sha256').update(file.bytes).digest('hex'))).toBe(true);
      }
    }
  } finally {
    await again.close();
  }
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-backup-test-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

(postgres ? describe : describe.skip)('PostgreSQL, while the server runs', () => {
  let server: TestServer;
  let filled: Filled;
  let restored: TestDatabase;
  let api: Client;

  beforeAll(async () => {
    // Files under DATA_DIR/media, whatever storage the run uses (S3 has its own block below).
    server = await startTestServer({ S3_ENDPOINT: '' });
    api = client(server.url);
    filled = await fill(server);
    restored = await createPostgresDatabase(postgresServerUrl()!);
  }, 5 * WAIT);
  afterAll(async () => {
    await server?.close();
    await restored?.drop();
  });

  test(
    'backup, restore into an empty database and DATA_DIR: every table and file the same, served again',
    async () => {
      const source = server.config.database as { kind: 'postgres'; url: string };
      const before = await sumsOf(source);
      expect(Object.keys(before)).toEqual(
        expect.arrayContaining(['users', 'messages', 'message_reactions', 'media', '_prisma_migrations']),
      );
      expect(before.message_reactions).toMatch(/^2 rows/);
      expect(before.media).toMatch(/^2 rows/);

      const backup = await script('backup.sh', ['--out', path.join(tmp, 'pg')], {
        DATABASE_URL: source.url,
        DATA_DIR: server.config.dataDir,
      });
      expect({ code: backup.code, err: backup.err }).toMatchObject({ code: 0 });
      const dir = backupDir(backup);
      expect(readdirSync(dir).sort()).toEqual(['SHA256SUMS', 'database.dump', 'manifest.json', 'objects']);
      // Still serving all the while.
      expect((await api.get('/health/ready')).status).toBe(200);

      const restoredDir = path.join(tmp, 'pg-restored');
      const restore = await script('restore.sh', [dir], {
        DATABASE_URL: (restored.target as { url: string }).url,
        DATA_DIR: restoredDir,
      });
      expect({ code: restore.code, err: restore.err }).toMatchObject({ code: 0 });
      expect(await sumsOf(restored.target)).toEqual(before);
      const files = fileHashes(path.join(server.config.dataDir, 'media'));
      expect(Object.keys(files).length).toBeGreaterThanOrEqual(4);
      expect(fileHashes(path.join(restoredDir, 'media'))).toEqual(files);

      // Into something that is not empty: refused, nothing touched.
      const again = await script('restore.sh', [dir], {
        DATABASE_URL: (restored.target as { url: string }).url,
        DATA_DIR: path.join(tmp, 'elsewhere'),
      });
      expect(again.code).toBe(1);
      expect(again.err).toContain('is not empty');

      await expectServedAgain(
        filled,
        { DATA_DIR: restoredDir, S3_ENDPOINT: '' },
        restored.target,
        new Set(Object.values(files)),
      );
    },
    5 * WAIT,
  );

  test(
    'a damaged backup is refused before anything is written',
    async () => {
      const backup = await script('backup.sh', ['--out', path.join(tmp, 'pg-damaged')], {
        DATABASE_URL: (server.config.database as { url: string }).url,
        DATA_DIR: server.config.dataDir,
      });
      expect(backup.code).toBe(0);
      const dir = backupDir(backup);
      const objects = path.join(dir, 'objects');
      const first = Object.keys(fileHashes(objects))[0]!;
      writeFileSync(path.join(objects, first), 'not the picture');
      const empty = await createPostgresDatabase(postgresServerUrl()!);
      try {
        const restore = await script('restore.sh', [dir], {
          DATABASE_URL: (empty.target as { url: string }).url,
          DATA_DIR: path.join(tmp, 'never'),
        });
        expect(restore.code).toBe(1);
        expect(restore.err).toContain('The backup is damaged');
        expect(await sumsOf(empty.target)).toEqual({});
        expect(existsSync(path.join(tmp, 'never'))).toBe(false);
      } finally {
        await empty.drop();
      }
    },
    3 * WAIT,
  );
});

(postgres ? describe : describe.skip)('PostgreSQL with files on S3', () => {
  let source: RunningS3;
  let target: RunningS3;
  let server: TestServer;
  let filled: Filled;
  let restored: TestDatabase;
  const s3env = (s3: RunningS3) => ({
    S3_ENDPOINT: `http://${s3.settings.endPoint}:${s3.settings.port}`,
    S3_BUCKET: s3.settings.bucket,
    S3_ACCESS_KEY: s3.settings.accessKey,
    S3_SECRET_KEY: s3.settings.secretKey,
  });

  beforeAll(async () => {
    source = await startS3();
    target = await startS3();
    server = await startTestServer(s3env(source));
    filled = await fill(server);
    restored = await createPostgresDatabase(postgresServerUrl()!);
  }, 5 * WAIT);
  afterAll(async () => {
    await server?.close();
    await source?.stop();
    await target?.stop();
    await restored?.drop();
  });

  test(
    'every object of the bucket is backed up and restored into an empty bucket, hashes checked',
    async () => {
      const db = server.config.database as { url: string };
      const before = await sumsOf(server.config.database);
      const backup = await script('backup.sh', ['--out', path.join(tmp, 's3')], {
        DATABASE_URL: db.url,
        ...s3env(source),
      });
      expect({ code: backup.code, err: backup.err }).toMatchObject({ code: 0 });
      const dir = backupDir(backup);
      const objects = fileHashes(path.join(dir, 'objects'));
      expect(Object.keys(objects).length).toBeGreaterThanOrEqual(4);
      const types = JSON.parse(readFileSync(path.join(dir, 'objects.json'), 'utf8')) as {
        contentTypes: Record<string, string>;
      };
      expect(Object.keys(types.contentTypes).sort()).toEqual(Object.keys(objects).sort());

      const restore = await script('restore.sh', [dir], {
        DATABASE_URL: (restored.target as { url: string }).url,
        ...s3env(target),
      });
      expect({ code: restore.code, err: restore.err }).toMatchObject({ code: 0 });
      expect(restore.err).toMatch(/object\(s\) in s3:\/\/\S+ match the backup/);
      expect(await sumsOf(restored.target)).toEqual(before);

      // A bucket holding anything is refused.
      const second = await createPostgresDatabase(postgresServerUrl()!);
      try {
        const again = await script('restore.sh', [dir], {
          DATABASE_URL: (second.target as { url: string }).url,
          ...s3env(target),
        });
        expect(again.code).not.toBe(0);
        expect(again.err).toContain('is not empty');
      } finally {
        await second.drop();
      }
      await expectServedAgain(filled, s3env(target), restored.target, new Set(Object.values(objects)));
    },
    5 * WAIT,
  );
});

(postgres ? describe.skip : describe)('the embedded database', () => {
  let server: TestServer | undefined;
  let filled: Filled;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = path.join(tmp, 'embedded');
    server = await startTestServer(
      { DATA_DIR: dataDir, S3_ENDPOINT: '' },
      { database: async () => ({ kind: 'pglite', dir: path.join(dataDir, 'db') }) },
    );
    filled = await fill(server);
  }, 5 * WAIT);
  afterAll(async () => {
    await server?.close();
  });

  test(
    'the backup refuses while the server runs, and works once it stopped; the restore is the same',
    async () => {
      const env = { DATA_DIR: dataDir };
      const refused = await script('backup.sh', ['--out', path.join(tmp, 'embedded-backups')], env);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain(`is in use by process ${process.pid}`);
      expect(refused.err).toContain('Stop the server');
      await server!.close();
      server = undefined;

      const backup = await script('backup.sh', ['--out', path.join(tmp, 'embedded-backups')], env);
      expect({ code: backup.code, err: backup.err }).toMatchObject({ code: 0 });
      const dir = backupDir(backup);
      expect(readdirSync(dir).sort()).toEqual(['SHA256SUMS', 'db.tar', 'manifest.json', 'objects']);
      // The lock the backup held is gone again.
      expect(existsSync(path.join(dataDir, 'db.lock'))).toBe(false);

      const restoredDir = path.join(tmp, 'embedded-restored');
      const restore = await script('restore.sh', [dir], { DATA_DIR: restoredDir });
      expect({ code: restore.code, err: restore.err }).toMatchObject({ code: 0 });
      const before = await sumsOf({ kind: 'pglite', dir: path.join(dataDir, 'db') });
      expect(before.messages).toMatch(/^1[0-9] rows/);
      expect(await sumsOf({ kind: 'pglite', dir: path.join(restoredDir, 'db') })).toEqual(before);
      const files = fileHashes(path.join(dataDir, 'media'));
      expect(Object.keys(files).length).toBeGreaterThanOrEqual(4);
      expect(fileHashes(path.join(restoredDir, 'media'))).toEqual(files);

      // Over an existing database: refused.
      const again = await script('restore.sh', [dir], { DATA_DIR: restoredDir });
      expect(again.code).toBe(1);
      expect(again.err).toContain('exists: restore into a DATA_DIR without a database');

      await expectServedAgain(
        filled,
        { DATA_DIR: restoredDir, S3_ENDPOINT: '' },
        { kind: 'pglite', dir: path.join(restoredDir, 'db') },
        new Set(Object.values(files)),
      );
    },
    6 * WAIT,
  );
});
