/**
 * /health/ready follows Redis: a Redis of the test's own (another port; the machine's
 * shared one is never touched) is killed and started again under a running server.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

/** Generous: a safety net for a busy machine, not an expectation of speed. */
const WAIT_MS = 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

let port: number;
let redisProcess: ChildProcess | undefined;

async function startRedis(): Promise<void> {
  redisProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const probe = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await until('redis-server to answer', async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        probe.disconnect();
        return false;
      }
    });
  } finally {
    probe.disconnect();
  }
}

async function killRedis(): Promise<void> {
  const child = redisProcess;
  redisProcess = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

let server: TestServer;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  port = await freePort();
  await startRedis();
  server = await startTestServer({
    REDIS_URL: `redis://127.0.0.1:${port}`,
    REDIS_KEY_PREFIX: 'parley-ready-test',
  });
  api = client(server.url);
});
afterAll(async () => {
  if (!redisProcess) await startRedis().catch(() => undefined); // let the server leave cleanly
  await server?.close();
  await killRedis();
});

const readiness = async () => {
  const res = await api.get('/health/ready');
  return { status: res.status, checks: res.status === 200 ? res.body.checks : res.body.error?.details };
};

test('/health/ready is 503 while Redis is away, names it, and is 200 again when it is back', async () => {
  expect(await readiness()).toMatchObject({ status: 200, checks: { database: 'ok', redis: 'ok' } });

  await killRedis();
  await until('/health/ready to say 503', async () => (await readiness()).status === 503);
  const away = await readiness();
  expect(away.checks.database).toBe('ok');
  expect(away.checks.redis).toMatch(/^unreachable/);
  // Liveness is not readiness: the process itself is fine.
  expect((await api.get('/health')).status).toBe(200);

  await startRedis();
  await until('/health/ready to say 200', async () => (await readiness()).status === 200);
  expect(await readiness()).toMatchObject({ status: 200, checks: { redis: 'ok' } });
});
