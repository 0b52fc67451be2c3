/**
 * The container image, without a Docker engine: the Dockerfile is read as a reviewer reads
 * it (multi-stage, pinned base, non-root, health check, no dev dependencies), the build
 * context is checked against .dockerignore, and the image's file set is built the way the
 * Dockerfile builds it (scripts/build-server.mjs, `npm ci --omit=dev`, the prune) in a
 * temporary directory with no node_modules above it. That layout is then run as the image
 * runs it: the migration runner, the server (it answers the API, the web app, /metrics),
 * the HEALTHCHECK command, a graceful SIGTERM; and it must write nothing into its own files.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { freePort } from '../support/cluster.js';
import { createTestDatabase, testDbMode, type TestDatabase } from '../support/database.js';
import { createGroup, registerUsers, type TestUser } from '../support/factories.js';
import { as, client } from '../support/http.js';
import { sendWithAttachments, settled, uploaded } from '../support/media.js';
import { waitUntil } from '../support/wait.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const WAIT = 120_000;

// ---------------------------------------------------------------------------------------
// Reading the Dockerfile

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions (continuation lines joined, comments dropped) grouped by stage. */
function readDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (!op) throw new Error(`cannot read Dockerfile line: ${line}`);
    const upper = op.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [key, value = ''] = rest!.split('=');
      args[key!.trim()] = value.trim();
    } else if (upper === 'FROM') {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest!.trim()) ?? [];
      stages.push({
        from: image!.replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? ''),
        name,
        instructions: [],
      });
    } else stages.at(-1)!.instructions.push({ op: upper, args: rest!.trim() });
  }
  return { args, stages };
}

const dockerfile = readDockerfile(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.stages.at(-1)!;
const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args);

describe('the Dockerfile', () => {
  test('is multi-stage on a pinned Node image', () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(['build', 'deps', undefined]);
    for (const stage of dockerfile.stages) {
      // A version, never `latest` or a bare name.
      expect(stage.from).toMatch(/^node:\d+\.\d+\.\d+-[a-z]+(-slim)?$/);
    }
    // The same Node the tests run on (major.minor), so what is tested is what ships.
    const [major, minor] = process.versions.node.split('.');
    expect(runtime.from.startsWith(`node:${major}.${minor}.`)).toBe(true);
  });

  test('runs as a non-root user, production mode, with a health check and a graceful stop signal', () => {
    expect(ops(runtime, 'USER')).toEqual(['node']);
    const env = ops(runtime, 'ENV').join(' ');
    expect(env).toMatch(/NODE_ENV=production/);
    expect(env).toMatch(/DATA_DIR=\/data/);
    expect(ops(runtime, 'HEALTHCHECK')[0]).toMatch(/CMD \["node", "backend\/dist\/healthcheck\.js"\]/);
    expect(ops(runtime, 'STOPSIGNAL')).toEqual(['SIGTERM']);
    // Media processing calls ffmpeg and ffprobe.
    expect(ops(runtime, 'RUN').join('\n')).toMatch(/apt-get install -y --no-install-recommends ffmpeg/);
    expect(ops(runtime, 'CMD')).toEqual(['["node", "backend/dist/server.js"]']);
    expect(ops(runtime, 'EXPOSE')).toEqual(['3000']);
    // USER comes after everything done as root.
    const order = runtime.instructions.map((i) => i.op);
    expect(order.lastIndexOf('RUN')).toBeLessThan(order.indexOf('USER'));
  });

  test('ships no dev dependencies: the runtime copies only the pruned production install and the build', () => {
    expect(ops(runtime, 'COPY')).toEqual([
      '--from=deps /src/node_modules ./node_modules',
      '--from=deps /src/backend/node_modules ./backend/node_modules',
      '--from=build /out ./',
    ]);
    const deps = dockerfile.stages.find((s) => s.name === 'deps')!;
    const runs = ops(deps, 'RUN').join('\n');
    expect(runs).toContain('npm ci --omit=dev --ignore-scripts --workspace @parley/backend');
    expect(runs).toContain('node scripts/prune-node-modules.mjs --root /src --manifest /out/package.json');
    const build = ops(dockerfile.stages[0]!, 'RUN').join('\n');
    expect(build).toContain('node scripts/build-server.mjs --out /out');
    // Install scripts never run (the same policy as the repository's allowScripts).
    for (const run of [...ops(deps, 'RUN'), ...ops(dockerfile.stages[0]!, 'RUN')])
      if (run.includes('npm ci')) expect(run).toContain('--ignore-scripts');
  });
});

// ---------------------------------------------------------------------------------------
// The build context

/** .dockerignore patterns as regular expressions over context paths (the subset used here). */
function dockerignore(): RegExp[] {
  return readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((pattern) => {
      const body = pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '(?:.*/)?')
        .replace(/\*/g, '[^/]*');
      return new RegExp(`^${body}(?:/.*)?$`);
    });
}

test('.dockerignore keeps out installs, builds, data, secrets and git, and keeps what the Dockerfile copies', () => {
  const ignore = dockerignore();
  const ignored = (p: string) => ignore.some((re) => re.test(p));
  for (const p of [
    'node_modules',
    'backend/node_modules/x',
    'frontend/dist/index.html',
    'dist/server/x.js',
    'data/db/PG_VERSION',
    '.env',
    '.env.production',
    '.git/HEAD',
    'backend/src/infra/db/generated/client.ts',
    'artifacts/e2e/a.png',
  ])
    expect({ p, ignored: ignored(p) }).toEqual({ p, ignored: true });
  // Every file the build stages copy by name is in the context.
  const named = dockerfile.stages
    .flatMap((s) => ops(s, 'COPY'))
    .filter((args) => !args.startsWith('--from'))
    .flatMap((args) => args.split(/\s+/).slice(0, -1))
    .filter((src) => src !== '.');
  expect(named.length).toBeGreaterThan(5);
  for (const src of named) {
    expect({ src, exists: existsSync(path.join(repoRoot, src)), ignored: ignored(src) }).toEqual({
      src,
      exists: true,
      ignored: false,
    });
  }
  // What `COPY . .` brings for the build: sources, schema, migrations, scripts.
  for (const p of [
    'backend/src/main.ts',
    'contracts/src/index.ts',
    'frontend/index.html',
    'prisma/schema.prisma',
    'prisma.config.ts',
    'scripts/build-server.mjs',
    'scripts/prisma-generate.mjs',
    'tsconfig.base.json',
  ])
    expect({ p, ignored: ignored(p) }).toEqual({ p, ignored: false });
  for (const dir of readdirSync(path.join(repoRoot, 'prisma/migrations')))
    expect(ignored(`prisma/migrations/${dir}/migration.sql`)).toBe(false);
});

// ---------------------------------------------------------------------------------------
// The image's file set, built and run

/** Files under `dir` with their size and modification time (skipping node_modules contents' times). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const s = statSync(full);
        out.set(path.relative(dir, full), `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const result = spawnSync(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  return result.stdout;
}

describe('the production layout, built as the Dockerfile builds it and run', () => {
  let tmp: string;
  let app: string;
  let before: Map<string, string>;
  let server: ChildProcess | undefined;
  let database: TestDatabase | undefined;
  let env: NodeJS.ProcessEnv;
  let url: string;
  let output = '';

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-image-'));
    // Nothing above the app may lend it packages: it must run on its own node_modules.
    for (let dir = path.dirname(tmp); dir !== path.dirname(dir); dir = path.dirname(dir))
      expect(existsSync(path.join(dir, 'node_modules'))).toBe(false);
    app = path.join(tmp, 'app');
    // build stage: the web app (into the temp dir, not the checkout) and the server bundle.
    run(
      process.execPath,
      [
        path.join(repoRoot, 'node_modules/vite/bin/vite.js'),
        'build',
        '--outDir',
        path.join(tmp, 'web'),
        '--emptyOutDir',
        '--logLevel',
        'warn',
      ],
      {
        cwd: path.join(repoRoot, 'frontend'),
      },
    );
    run(process.execPath, ['scripts/build-server.mjs', '--out', app, '--web', path.join(tmp, 'web')], {
      cwd: repoRoot,
    });
    // deps stage: the workspace's manifests and lockfile, a production install, the prune.
    const deps = path.join(tmp, 'deps');
    for (const file of [
      'package.json',
      'package-lock.json',
      'contracts/package.json',
      'backend/package.json',
      'frontend/package.json',
      'tools/package.json',
    ]) {
      mkdirSync(path.dirname(path.join(deps, file)), { recursive: true });
      cpSync(path.join(repoRoot, file), path.join(deps, file));
    }
    run(
      'npm',
      [
        'ci',
        '--omit=dev',
        '--ignore-scripts',
        '--workspace',
        '@parley/backend',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
      ],
      { cwd: deps, env: { ...process.env, npm_config_loglevel: 'error' } },
    );
    run(
      process.execPath,
      [
        path.join(repoRoot, 'scripts/prune-node-modules.mjs'),
        '--root',
        deps,
        '--manifest',
        path.join(app, 'package.json'),
      ],
      {
        cwd: deps,
      },
    );
    // runtime stage: COPY --from=deps …/node_modules and …/backend/node_modules.
    renameSync(path.join(deps, 'node_modules'), path.join(app, 'node_modules'));
    renameSync(path.join(deps, 'backend/node_modules'), path.join(app, 'backend/node_modules'));
    before = snapshot(app);

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // The image's environment, and what an operator must add (a secret; a database or /data).
    env = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: path.join(tmp, 'data'),
      JWT_SECRET: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
      TMPDIR: path.join(tmp, 'tmp'),
    };
    mkdirSync(env.TMPDIR!);
    if (testDbMode() === 'postgres') {
      database = await createTestDatabase('postgres');
      if (database.target.kind === 'postgres') env.DATABASE_URL = database.target.url;
    }
  }, 10 * 60_000);

  afterAll(async () => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    await database?.drop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('holds the bundles, migrations, web app and only production packages', () => {
    for (const file of [
      'backend/dist/server.js',
      'backend/dist/migrate.js',
      'backend/dist/healthcheck.js',
      'backend/dist/admin.js',
      'frontend/dist/index.html',
      'package.json',
    ])
      expect({ file, exists: existsSync(path.join(app, file)) }).toEqual({ file, exists: true });
    expect(readdirSync(path.join(app, 'prisma/migrations')).sort()).toEqual(
      readdirSync(path.join(repoRoot, 'prisma/migrations')).sort(),
    );
    const installed = new Set([
      ...readdirSync(path.join(app, 'node_modules')),
      ...readdirSync(path.join(app, 'backend/node_modules')),
    ]);
    for (const dev of [
      'typescript',
      'tsx',
      'esbuild',
      'jest',
      'vite',
      'vitest',
      'prisma',
      'react',
      'eslint',
      'fast-check',
    ])
      expect({ dev, installed: installed.has(dev) }).toEqual({ dev, installed: false });
    expect(installed.has('@parley')).toBe(false);
    const manifest = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies)).toEqual(
      expect.arrayContaining(['fastify', '@prisma/client', 'pg']),
    );
  });

  test('the migration runner migrates the database (the Kubernetes Job runs the admin CLI’s migrate)', () => {
    const out = run(process.execPath, ['backend/dist/migrate.js'], { cwd: app, env });
    expect(out).toMatch(/Applied \d+ migration\(s\)/);
    expect(run(process.execPath, ['backend/dist/admin.js', 'migrate'], { cwd: app, env })).toMatch(
      /Up to date/,
    );
    expect(
      run(process.execPath, ['backend/dist/admin.js', 'migrate', '--wait'], { cwd: app, env }),
    ).toContain('Every migration is applied.');
  });

  test(
    'the server starts and answers: health, readiness, the API, the web app, metrics',
    async () => {
      server = spawn(process.execPath, ['backend/dist/server.js'], {
        cwd: app,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      server.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      await waitUntil(
        'the built server to listen',
        () => {
          if (server!.exitCode !== null) throw new Error(`server exited ${server!.exitCode}:\n${output}`);
          return output.includes('Parley is running at');
        },
        WAIT,
        50,
      );
      const api = client(url);
      expect((await api.get('/health')).body).toEqual({ status: 'ok' });
      expect((await api.get('/health/ready')).status).toBe(200);
      const page = await api.get('/chats/00000000-0000-4000-8000-000000000000');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(page.text).toContain('<div id="root"');
      const registered = await api.post('/api/auth/register', {
        username: 'image_test',
        email: 'image@example.test',
        password: 'correct horse battery',
        displayName: 'Image',
      });
      expect(registered.status).toBe(201);
      const me = await api.get('/api/users/me', { token: registered.body.accessToken });
      expect(me.body.username).toBe('image_test');
      expect((await api.get('/metrics')).text).toMatch(/^parley_ready 1$/m);
    },
    WAIT,
  );

  test(
    'its media analysis runs from the bundle: a picture with text is read in its own process and found by search',
    async () => {
      const api = client(url);
      const [ana, ben] = (await registerUsers(api, 2)) as [TestUser, TestUser];
      const group = await createGroup(api, ana, [ben]);
      const picture = await sharp(
        Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="160"><rect width="100%" height="100%" fill="#fff"/>' +
            '<text x="30" y="100" font-family="DejaVu Sans" font-size="56">Quarterly ledger</text></svg>',
        ),
      )
        .png()
        .toBuffer();
      const up = await uploaded(url, ana, picture, { name: 'ledger.png' });
      expect((await settled(api, ana, up.id)).status).toBe('ready');
      expect((await sendWithAttachments(api, ana, group.id, [up.id])).status).toBe(201);
      await waitUntil(
        'the picture to be found by the word it shows',
        async () => {
          const res = await api.get('/api/search?q=has%3Aimage%20ledger', as(ben));
          return (res.body as { messages?: { image?: { id: string } }[] }).messages?.[0]?.image?.id === up.id;
        },
        WAIT,
        250,
      );
    },
    WAIT,
  );

  test('the HEALTHCHECK command passes against it, and fails when nothing answers', async () => {
    const ok = spawnSync(process.execPath, ['backend/dist/healthcheck.js'], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
    expect({ status: ok.status, err: ok.stderr }).toEqual({ status: 0, err: '' });
    const other = await freePort();
    const down = spawnSync(process.execPath, ['backend/dist/healthcheck.js'], {
      cwd: app,
      env: { ...env, PORT: String(other) },
      encoding: 'utf8',
    });
    expect(down.status).toBe(1);
  });

  test('SIGTERM stops it cleanly, and it wrote nothing into its own files', async () => {
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    server!.kill('SIGTERM');
    expect(await exited).toBe(0);
    const after = snapshot(app);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
      (f) => before.get(f) !== after.get(f),
    );
    expect(changed).toEqual([]);
    // The embedded database went to DATA_DIR (PostgreSQL mode: nothing there).
    if (testDbMode() === 'pglite') expect(existsSync(path.join(env.DATA_DIR!, 'db'))).toBe(true);
  });
});
