/**
 * The admin CLI against a running server. On PostgreSQL it runs as its own process, as an
 * operator runs it (`npm run admin -- …`: the server hears of a deactivation over Redis or
 * LISTEN/NOTIFY); on the embedded database, which one process owns, the same commands run
 * in the server's process, and a second process is refused by the database's lock.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, testDbMode, type TestDatabase } from '../../test/support/database.js';
import { registerUser, uniqueName, type TestUser } from '../../test/support/factories.js';
import { client, type Client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs } from '../../test/support/ws.js';
import { waitUntil } from '../../test/support/wait.js';
import { loadConfig } from '../infra/config.js';
import { openDatabase } from '../infra/db/client.js';
import { cliEnvironment, runAdmin, type CliEnvironment } from './cli.js';

const backendDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WAIT = 60_000;
const postgres = testDbMode() === 'postgres';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** `npm run admin -- …` as a separate process with the given environment. */
function spawnCli(args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/admin/cli.ts', ...args], {
      cwd: backendDir,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, out, err }));
    child.stdin.end(stdin);
  });
}

describe('npm run admin', () => {
  let server: TestServer;
  let api: Client;
  let cliEnv: Record<string, string>;
  let inProcess: CliEnvironment;

  /** One command, as this database mode allows. */
  async function admin(args: string[], stdin = ''): Promise<Run> {
    if (postgres) return spawnCli(args, cliEnv, stdin);
    const out: string[] = [];
    const err: string[] = [];
    const code = await runAdmin(args, inProcess, {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      readStdin: async () => stdin,
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  beforeAll(async () => {
    server = await startTestServer();
    api = client(server.url);
    const { config } = server;
    cliEnv = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: new URL(server.url).port,
      ...(config.database.kind === 'postgres' ? { DATABASE_URL: config.database.url } : {}),
      ...(config.redisUrl ? { REDIS_URL: config.redisUrl, REDIS_KEY_PREFIX: config.redisKeyPrefix } : {}),
    };
    // Embedded: the commands work through the server's own database and bus.
    const { ctx } = server.running;
    inProcess = {
      config: loadConfig(cliEnv),
      database: async () => ctx.db,
      redis: () => undefined,
      admin: async () => ({
        config: ctx.config,
        db: ctx.db,
        passwords: ctx.passwords,
        now: () => new Date(),
        closeSessions: (ids) => ctx.events.closeSessions(ids),
      }),
      close: async () => undefined,
    };
  });

  afterAll(async () => {
    await server?.close();
  });

  test('users create: an administrator with a password from stdin, or a member with a generated one', async () => {
    const username = uniqueName('adm');
    const made = await admin(
      [
        'users',
        'create',
        '--username',
        username,
        '--email',
        `${username}@example.test`,
        '--display-name',
        'Ada',
        '--admin',
        '--password-stdin',
        '--json',
      ],
      'correct horse battery staple\n',
    );
    expect(made).toMatchObject({ code: 0, err: '' });
    const created = JSON.parse(made.out) as { user: { id: string; isAdmin: boolean }; password?: string };
    expect(created.user.isAdmin).toBe(true);
    expect(created.password).toBeUndefined();
    const login = await api.post('/api/auth/login', {
      login: username,
      password: 'correct horse battery staple',
    });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(created.user.id);
    // Administrators may create invites.
    expect((await api.post('/api/admin/invites', {}, { token: login.body.accessToken })).status).toBe(201);

    const member = uniqueName('mem');
    const second = await admin([
      'users',
      'create',
      '--username',
      member,
      '--email',
      `${member}@example.test`,
      '--display-name',
      'Bo',
    ]);
    expect(second.code).toBe(0);
    const password = /Password \(shown once\): (\S+)/.exec(second.out)?.[1];
    expect(password).toBeDefined();
    const memberLogin = await api.post('/api/auth/login', { login: member, password });
    expect(memberLogin.status).toBe(200);
    expect((await api.post('/api/admin/invites', {}, { token: memberLogin.body.accessToken })).status).toBe(
      403,
    );
  });

  test('users create refuses what sign-up refuses, naming the problem', async () => {
    const taken = await registerUser(api);
    const dup = await admin([
      'users',
      'create',
      '--username',
      taken.username,
      '--email',
      'x@example.test',
      '--display-name',
      'X',
    ]);
    expect(dup.code).toBe(1);
    expect(dup.err).toContain('USERNAME_TAKEN');
    const bad = await admin([
      'users',
      'create',
      '--username',
      uniqueName(),
      '--email',
      'not-an-email',
      '--display-name',
      'X',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/VALIDATION_ERROR: .*email/);
    const missing = await admin(['users', 'create', '--username', uniqueName()]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('usage:');
  });

  test('users deactivate: open sockets close with 1008 at once, sessions and sign-in refused; reactivate undoes it', async () => {
    const user = await registerUser(api);
    const ws = await connectAs(server.url, user.accessToken);
    const deactivated = await admin(['users', 'deactivate', user.username]);
    const doneAt = Date.now();
    expect(deactivated).toMatchObject({ code: 0, err: '' });
    expect(deactivated.out).toContain(`${user.username} is deactivated; 1 session(s) signed out.`);
    const closed = await ws.closed;
    expect(closed.code).toBe(1008);
    // Pushed by the server, not noticed at the socket's next command.
    expect(Date.now() - doneAt).toBeLessThan(WAIT);
    expect((await api.get('/api/users/me', { token: user.accessToken })).body.error.code).toBe(
      'SESSION_REVOKED',
    );
    const refresh = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    expect(refresh.status).toBe(401);
    const login = await api.post('/api/auth/login', { login: user.username, password: user.password });
    expect({ status: login.status, code: login.body.error.code }).toEqual({
      status: 401,
      code: 'ACCOUNT_DEACTIVATED',
    });
    // A wrong password learns nothing about the account.
    const wrong = await api.post('/api/auth/login', { login: user.username, password: 'not the password' });
    expect(wrong.body.error.code).toBe('INVALID_CREDENTIALS');
    const again = await admin(['users', 'deactivate', user.username]);
    expect(again.out).toContain('(it was already)');

    const reactivated = await admin(['users', 'reactivate', user.username]);
    expect(reactivated).toMatchObject({ code: 0 });
    expect(reactivated.out).toContain(`${user.username} is active.`);
    expect(
      (await api.post('/api/auth/login', { login: user.username, password: user.password })).status,
    ).toBe(200);
  });

  test('users reset-password: the new password works, the old one and every session are gone', async () => {
    const user = await registerUser(api);
    const ws = await connectAs(server.url, user.accessToken);
    const reset = await admin(
      ['users', 'reset-password', user.username, '--password-stdin'],
      'a brand new passphrase\n',
    );
    expect(reset).toMatchObject({ code: 0, err: '' });
    expect(reset.out).toContain('1 session(s) signed out');
    expect((await ws.closed).code).toBe(1008);
    expect(
      (await api.post('/api/auth/login', { login: user.username, password: user.password })).status,
    ).toBe(401);
    expect(
      (await api.post('/api/auth/login', { login: user.username, password: 'a brand new passphrase' }))
        .status,
    ).toBe(200);
    const short = await admin(['users', 'reset-password', user.username, '--password-stdin'], 'short\n');
    expect(short.code).toBe(1);
    expect(short.err).toContain('VALIDATION_ERROR');
    const nobody = await admin(['users', 'reset-password', 'no_such_user']);
    expect(nobody.code).toBe(1);
    expect(nobody.err).toContain('NOT_FOUND');
  });

  test('users list shows accounts with their state', async () => {
    const user: TestUser = await registerUser(api);
    await admin(['users', 'deactivate', user.username]);
    const list = await admin(['users', 'list', '--limit', '1000', '--json']);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.out) as { username: string; deactivatedAt: string | null }[];
    expect(rows.find((r) => r.username === user.username)?.deactivatedAt).toEqual(expect.any(String));
  });

  test('nodes lists the running node as ready', async () => {
    // Nodes report through Redis every few seconds; without Redis the local node is asked.
    let run: Run = { code: 1, out: '', err: '' };
    await waitUntil(
      'the node to be listed ready',
      async () => {
        run = await admin(['nodes', '--probe', '--json']);
        return run.code === 0;
      },
      WAIT,
      500,
    );
    const nodes = JSON.parse(run.out) as {
      status: string;
      address: string;
      checks: Record<string, string>;
      probe: string;
    }[];
    expect(nodes.length).toBeGreaterThanOrEqual(1);
    const ours = nodes.find((n) => n.address?.endsWith(`:${new URL(server.url).port}`));
    expect(ours).toMatchObject({ status: 'ready', checks: { database: 'ok', migrations: 'ok' } });
    expect(ours!.probe).toBe('/health/ready answered 200');
    const text = await admin(['nodes']);
    expect(text.out).toMatch(/^ready\s+http:\/\//m);
  });

  test('config prints the effective configuration with every secret masked', async () => {
    const run = await admin(['config', '--json']);
    expect(run.code).toBe(0);
    const shown = JSON.parse(run.out) as { jwt: { secret: string }; port: number };
    expect(shown.jwt.secret).toBe('********');
    expect(shown.port).toBe(Number(cliEnv.PORT));
    const withSecrets = await runAdmin(
      ['config'],
      cliEnvironment(
        loadConfig({
          DATABASE_URL: 'postgresql://parley:hunter2-db@db:5432/parley',
          REDIS_URL: 'redis://:hunter2-redis@redis:6379',
          JWT_SECRET: 'hunter2-jwt-secret-0123456789abcdef',
          S3_ENDPOINT: 'http://minio:9000',
          S3_ACCESS_KEY: 'hunter2-access',
          S3_SECRET_KEY: 'hunter2-secret',
        }),
      ),
      { out: (l) => expect(l).not.toContain('hunter2'), err: () => undefined, readStdin: async () => '' },
    );
    expect(withSecrets).toBe(0);
  });

  test('unknown commands and options are usage errors', async () => {
    expect((await admin(['frobnicate'])).code).toBe(2);
    expect((await admin(['users', 'deactivate'])).code).toBe(2);
    expect((await admin(['users', 'list', '--bogus'])).code).toBe(2);
  });
});

describe('npm run admin -- migrate', () => {
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    if (postgres) {
      database = await createTestDatabase('postgres');
      env = { DATABASE_URL: (database.target as { url: string }).url };
    } else {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-admin-'));
      env = { DATA_DIR: dataDir };
    }
    env = { ...env, NODE_ENV: 'test', LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test(
    '--wait waits for pending migrations (the pods’ init container), migrate applies them',
    async () => {
      const waiting = await spawnCli(['migrate', '--wait', '--timeout-seconds', '1'], env);
      expect(waiting.code).toBe(1);
      expect(waiting.out).toMatch(/Still pending after 1 s: 2026\d+_init/);
      const applied = await spawnCli(['migrate'], env);
      expect(applied).toMatchObject({ code: 0 });
      expect(applied.out).toMatch(/Applied \d+ migration\(s\)/);
      const ready = await spawnCli(['migrate', '--wait'], env);
      expect(ready).toMatchObject({ code: 0 });
      expect(ready.out).toContain('Every migration is applied.');
      expect((await spawnCli(['migrate'], env)).out).toMatch(/Up to date/);
    },
    4 * WAIT,
  );

  (postgres ? test.skip : test)(
    'the embedded database is refused while another process has it open',
    async () => {
      const dir = path.join(dataDir!, 'db');
      const held = await openDatabase({ kind: 'pglite', dir });
      try {
        const refused = await spawnCli(['users', 'list'], env);
        expect(refused.code).toBe(1);
        expect(refused.err).toContain(`is in use by process ${process.pid}`);
      } finally {
        await held.close();
      }
      expect((await spawnCli(['users', 'list'], env)).code).toBe(0);
    },
    4 * WAIT,
  );
});
