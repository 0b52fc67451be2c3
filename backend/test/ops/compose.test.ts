/**
 * docker-compose.yml (two nodes behind nginx on PostgreSQL, Redis and MinIO) and
 * docker-compose.dev.yml (the services for development), read as Docker Compose reads them:
 * the YAML parses (anchors and merge keys), variables interpolate, every image is pinned to a
 * version, every service has a health check, and what Parley is given (environment, ports)
 * is what its config schema accepts and what the other services offer. The nginx
 * configuration they mount is run by a real nginx in front of two test servers: round
 * robin with no stickiness, and WebSocket upgrades pass.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/infra/config.js';
import { findNginx, freePort } from '../support/cluster.js';
import { client } from '../support/http.js';
import { parseMetrics, valueOf } from '../support/prometheus-text.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { openWs } from '../support/ws.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string> | string[];
  ports?: string[];
  healthcheck?: { test: string[] | string; interval?: string };
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  read_only?: boolean;
  tmpfs?: string[];
  user?: string;
  volumes?: string[];
  stop_grace_period?: string;
  command?: unknown;
}
interface ComposeFile {
  services: Record<string, Service>;
  [extension: `x-${string}`]: unknown;
}

/** Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}`, and `$$` for `$`. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (match, name, kind, arg) => {
    if (match === '$$') return '$';
    const value = env[name as string];
    if (value !== undefined && value !== '') return value;
    if (kind === '-') return arg as string;
    if (kind === '?') throw new Error(`${name as string}: ${arg as string}`);
    return '';
  });
}

function readCompose(file: string, env: Record<string, string>): ComposeFile {
  const text = interpolate(readFileSync(path.join(repoRoot, file), 'utf8'), env);
  return parseYaml(text, { merge: true }) as ComposeFile;
}

function envOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
  // A key without a value (YAML null) passes the host's variable through: not set here.
  return Object.fromEntries(
    Object.entries(env)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  );
}

/** The variables Parley's config schema knows (backend/src/infra/config.ts, `envSchema`). */
function configVariables(): Set<string> {
  const source = readFileSync(path.join(repoRoot, 'backend/src/infra/config.ts'), 'utf8');
  const start = source.indexOf('const envSchema = z');
  const end = source.indexOf('.superRefine', start);
  const names = [...source.slice(start, end).matchAll(/^\s{4}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
  expect(names.length).toBeGreaterThan(50);
  return new Set(names);
}

const known = configVariables();
const jwtSecret = randomBytes(32).toString('base64url');

describe.each([
  ['docker-compose.yml', { JWT_SECRET: jwtSecret }],
  ['docker-compose.dev.yml', {}],
])('%s', (file, env: Record<string, string>) => {
  const compose = readCompose(file, env);
  const services = Object.entries(compose.services);

  test('parses, and every image is pinned to a version', () => {
    expect(services.length).toBeGreaterThanOrEqual(4);
    for (const [name, service] of services) {
      expect({ name, image: service.image }).toEqual({ name, image: expect.any(String) });
      const [, tag] = /:([^:/]+)$/.exec(service.image!) ?? [];
      expect({ name, tag }).toEqual({ name, tag: expect.stringMatching(/\d/) });
      expect(tag).not.toMatch(/latest|stable|edge/i);
    }
  });

  test('every service has a health check', () => {
    for (const [name, service] of services) {
      const check = service.healthcheck?.test;
      expect({ name, check: Array.isArray(check) ? check[0] : check }).toEqual({
        name,
        check: expect.stringMatching(/^CMD(-SHELL)?$/),
      });
      expect((check as string[]).length).toBeGreaterThan(1);
    }
  });

  test('services start after what they depend on is healthy', () => {
    for (const [name, service] of services) {
      for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect({ name, dep, exists: dep in compose.services }).toEqual({ name, dep, exists: true });
        expect(condition).toBe('service_healthy');
      }
    }
  });

  test('MinIO creates the bucket Parley uses, and is healthy only once it exists', () => {
    const minio = compose.services.minio!;
    const bucket = envOf(minio).PARLEY_BUCKET;
    expect(bucket).toBe('parley-media');
    expect(JSON.stringify(minio.command)).toContain('mc mb --ignore-existing \\"local/$PARLEY_BUCKET\\"');
    expect(minio.healthcheck!.test).toEqual(['CMD', 'mc', 'stat', `local/${bucket}`]);
  });

  test('ClamAV is there on request only (a profile)', () => {
    expect(compose.services.clamav?.profiles).toEqual(['clamav']);
  });
});

describe('docker-compose.yml: the production-like stack', () => {
  const compose = readCompose('docker-compose.yml', { JWT_SECRET: jwtSecret });
  const nodes = Object.entries(compose.services).filter(([name]) => name.startsWith('parley-'));

  test('refuses to start without a JWT secret', () => {
    expect(() => readCompose('docker-compose.yml', {})).toThrow(/JWT_SECRET/);
  });

  test('two Parley nodes from the image, read-only with a writable /tmp, stopped gracefully', () => {
    expect(nodes.map(([name]) => name)).toEqual(['parley-1', 'parley-2']);
    for (const [, node] of nodes) {
      expect(node.image).toMatch(/^parley:\d+\.\d+\.\d+$/);
      expect(node.build).toBe('.');
      expect(node.read_only).toBe(true);
      expect(node.tmpfs).toEqual(['/tmp']);
      expect(node.healthcheck!.test).toEqual(['CMD', 'node', 'backend/dist/healthcheck.js']);
      const env = envOf(node);
      // The grace period covers the whole shutdown (drain included).
      expect(parseInt(node.stop_grace_period!, 10) * 1000).toBeGreaterThan(Number(env.SHUTDOWN_TIMEOUT_MS));
    }
  });

  test("the nodes' environment is all known to the config schema and valid", () => {
    for (const [name, node] of nodes) {
      const env = envOf(node);
      for (const key of Object.keys(env))
        expect({ name, key, known: known.has(key) }).toEqual({ name, key, known: true });
      const config = loadConfig(env, '/app');
      expect(config.env).toBe('production');
      expect(config.database.kind).toBe('postgres');
      expect(config.trustProxy).toBe(true);
      expect(config.media.storage.kind).toBe('s3');
      // CLAMAV_HOST empty unless the clamav profile is used.
      expect(config.clamav).toBeUndefined();
      expect(loadConfig({ ...env, CLAMAV_HOST: 'clamav' }, '/app').clamav).toMatchObject({
        host: 'clamav',
        port: 3310,
      });
    }
  });

  test('the nodes reach the services as they are configured', () => {
    const env = envOf(nodes[0]![1]);
    const pg = envOf(compose.services.postgres!);
    const db = new URL(env.DATABASE_URL!);
    expect({
      host: db.hostname,
      port: db.port,
      user: db.username,
      password: db.password,
      db: db.pathname,
    }).toEqual({
      host: 'postgres',
      port: '5432',
      user: pg.POSTGRES_USER,
      password: pg.POSTGRES_PASSWORD,
      db: `/${pg.POSTGRES_DB}`,
    });
    expect(new URL(env.REDIS_URL!).hostname).toBe('redis');
    const minio = envOf(compose.services.minio!);
    expect(new URL(env.S3_ENDPOINT!).hostname).toBe('minio');
    expect([env.S3_ACCESS_KEY, env.S3_SECRET_KEY, env.S3_BUCKET]).toEqual([
      minio.MINIO_ROOT_USER,
      minio.MINIO_ROOT_PASSWORD,
      minio.PARLEY_BUCKET,
    ]);
  });

  test('nginx is the only way in: it publishes a port, forwards to every node on its PORT, and waits for them', () => {
    const nginx = compose.services.nginx!;
    expect(nginx.ports).toEqual(['8080:80']);
    for (const [name, service] of Object.entries(compose.services))
      if (name !== 'nginx') expect({ name, ports: service.ports }).toEqual({ name, ports: undefined });
    expect(nginx.volumes).toEqual(['./ops/nginx/parley.conf:/etc/nginx/conf.d/default.conf:ro']);
    const conf = readFileSync(path.join(repoRoot, 'ops/nginx/parley.conf'), 'utf8');
    const upstreams = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    expect(upstreams).toEqual(nodes.map(([name, node]) => `${name}:${envOf(node).PORT}`));
    expect(Object.keys(nginx.depends_on ?? {}).sort()).toEqual(nodes.map(([name]) => name));
  });
});

describe('docker-compose.dev.yml', () => {
  const compose = readCompose('docker-compose.dev.yml', {});

  test('publishes its services on loopback only', () => {
    for (const [name, service] of Object.entries(compose.services))
      for (const port of service.ports ?? [])
        expect({ name, port }).toEqual({ name, port: expect.stringMatching(/^127\.0\.0\.1:/) });
  });

  test('the settings it gives for Parley are valid and match the services', () => {
    const env = compose['x-parley-env'] as Record<string, string>;
    for (const key of Object.keys(env)) expect({ key, known: known.has(key) }).toEqual({ key, known: true });
    const config = loadConfig(env, repoRoot);
    expect(config.database).toEqual({
      kind: 'postgres',
      url: 'postgresql://parley:parley@127.0.0.1:5432/parley',
    });
    const pg = envOf(compose.services.postgres!);
    const db = new URL(env.DATABASE_URL!);
    expect([db.username, db.password, db.pathname.slice(1)]).toEqual([
      pg.POSTGRES_USER,
      pg.POSTGRES_PASSWORD,
      pg.POSTGRES_DB,
    ]);
    const minio = envOf(compose.services.minio!);
    expect(config.media.storage).toMatchObject({
      kind: 's3',
      endPoint: '127.0.0.1',
      port: 9000,
      bucket: minio.PARLEY_BUCKET,
      accessKey: minio.MINIO_ROOT_USER,
      secretKey: minio.MINIO_ROOT_PASSWORD,
    });
    // Each address points at a port the matching service publishes.
    const published = (service: string) =>
      (compose.services[service]!.ports ?? []).map((p) => p.split(':')[1]);
    expect(published('postgres')).toContain(db.port);
    expect(published('redis')).toContain(new URL(env.REDIS_URL!).port);
    expect(published('minio')).toContain(new URL(env.S3_ENDPOINT!).port);
    expect(published('clamav')).toContain(env.CLAMAV_PORT);
  });
});

// ---------------------------------------------------------------------------------------
// ops/nginx/parley.conf in a real nginx

const nginxBinary = findNginx();
(nginxBinary ? describe : describe.skip)('ops/nginx/parley.conf in front of two nodes', () => {
  let one: TestServer;
  let two: TestServer;
  let dir: string;
  let url: string;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    // Two independent servers are enough to see where requests go.
    one = await startTestServer();
    two = await startTestServer();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    dir = mkdtempSync(path.join(os.tmpdir(), 'parley-nginx-conf-'));
    for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, sub));
    // The file as compose mounts it, with the nodes' and nginx's addresses of this test.
    const ports = [one.url, two.url].map((u) => new URL(u).port);
    const conf = readFileSync(path.join(repoRoot, 'ops/nginx/parley.conf'), 'utf8')
      .replace('server parley-1:3000', `server 127.0.0.1:${ports[0]}`)
      .replace('server parley-2:3000', `server 127.0.0.1:${ports[1]}`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`);
    writeFileSync(path.join(dir, 'parley.conf'), conf);
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/parley.conf;
}
`,
    );
    const check = spawnSync(
      nginxBinary!,
      ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')],
      {
        encoding: 'utf8',
      },
    );
    expect({ status: check.status, out: check.stderr }).toMatchObject({ status: 0 });
    stop = await runNginx(nginxBinary!, dir, port);
  }, 120_000);

  afterAll(async () => {
    await stop?.();
    await Promise.all([one?.close(), two?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('requests go round robin to both nodes (no stickiness)', async () => {
    const api = client(url);
    const healthCount = async (server: TestServer) =>
      valueOf(
        parseMetrics((await client(server.url).get('/metrics')).text),
        'parley_http_request_duration_seconds_count',
        {
          route: '/health',
        },
      ) || 0;
    const before = [await healthCount(one), await healthCount(two)];
    for (let i = 0; i < 10; i++) expect((await api.get('/health')).status).toBe(200);
    const after = [await healthCount(one), await healthCount(two)];
    expect([after[0]! - before[0]!, after[1]! - before[1]!]).toEqual([5, 5]);
    // Metrics are for Prometheus on each node, not for the public.
    expect((await api.get('/metrics')).status).toBe(404);
  });

  test('a WebSocket upgrades through it and carries frames both ways', async () => {
    const ws = await openWs(url);
    const ack = await ws.command('auth', { token: 'not-a-token' });
    expect(ack.ok).toBe(false);
    expect(ack.error?.code).toBe('TOKEN_INVALID');
    await ws.close();
  });
});

/** nginx in the foreground under `dir`; resolves to its stop function once it listens. */
async function runNginx(binary: string, dir: string, port: number): Promise<() => Promise<void>> {
  const child = spawn(
    binary,
    ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let tries = 0; ; tries++) {
    const open = await new Promise<boolean>((resolve) => {
      const probe = net.connect(port, '127.0.0.1');
      probe.once('connect', () => (probe.destroy(), resolve(true)));
      probe.once('error', () => resolve(false));
    });
    if (open) break;
    if (child.exitCode !== null || tries > 400)
      throw new Error(`nginx did not start: ${readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return async () => {
    child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
}
