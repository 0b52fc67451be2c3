/**
 * Redis away and back under a running server, with a Redis of the test's own (another
 * port; the machine's shared one is never touched): /health/ready follows it, sends still
 * commit, and what was committed meanwhile reaches the members when it is back.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import net from 'node:net';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createGroup, registerUsers, type TestUser } from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { waitUntil } from '../../test/support/wait.js';
import { connectAs } from '../../test/support/ws.js';
import { startOwnRedis, type OwnRedis } from '../../test/support/cluster.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { redisCheck } from './routes.js';

/** Generous: a safety net for a busy machine, not an expectation of speed. */
const WAIT_MS = 60_000;

const until = (what: string, check: () => Promise<boolean>) => waitUntil(what, check, WAIT_MS, 100);

let redis: OwnRedis;
const killRedis = () => redis.kill();
const startRedis = () => redis.start();

let server: TestServer;
let closed = false;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  // Each step says which it was if it fails (a bare ioredis error names none).
  redis = await startOwnRedis().catch((err: Error) => {
    throw new Error(`starting redis-server: ${err.message}`, { cause: err });
  });
  server = await startTestServer({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'parley-ready-test',
  }).catch((err: Error) => {
    throw new Error(`starting the server on that Redis: ${err.message}`, { cause: err });
  });
  api = client(server.url);
});
afterAll(async () => {
  await redis?.start().catch(() => undefined); // (running already, or) let the server leave cleanly
  if (!closed) await server?.close();
  await redis?.close();
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

test('Redis away: sends still commit (or are refused as retryable); when it is back every committed message reaches the members', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const sender = await connectAs(server.url, a.accessToken);
  const stayed = await connectAs(server.url, b.accessToken);
  await killRedis();
  const acks = [];
  for (let n = 0; n < 5; n++) {
    acks.push(
      await sender.command('message:send', {
        chatId: group.id,
        clientMsgId: randomUUID(),
        body: `away ${n}`,
      }),
    );
  }
  for (const ack of acks) {
    if (!ack.ok) expect(ack.error?.code).toBe('SERVICE_UNAVAILABLE');
  }
  const committed = acks.filter((ack) => ack.ok).map((ack) => ack.data.message.id as string);
  expect(committed.length).toBeGreaterThan(0);
  await startRedis();
  // b's device that stayed connected is told: the messages arrive, or (the inbox was lost
  // with Redis's memory) a sync:resync sends it to REST, which has them all.
  await stayed.waitFor(
    (f) =>
      f.type === 'sync:resync' ||
      committed.every((id) =>
        stayed.events.some((e) => e.type === 'message:new' && e.data.message.id === id),
      ),
    WAIT_MS,
  );
  // b comes online after Redis is back: a fresh device, then re-sync as the protocol says.
  const device = await connectAs(server.url, b.accessToken);
  const page = await api.get(`/api/chats/${group.id}/messages`, { token: b.accessToken });
  expect(page.status).toBe(200);
  const stored = page.body.messages.map((m: { id: string }) => m.id);
  for (const id of committed) expect(stored).toContain(id);
  // And a device that stayed on sees the next message live.
  const next = await sender.command('message:send', {
    chatId: group.id,
    clientMsgId: randomUUID(),
    body: 'back',
  });
  expect(next.ok).toBe(true);
  await device.waitFor(
    (f) => f.type === 'message:new' && f.data.message.id === next.data.message.id,
    WAIT_MS,
  );
  await Promise.all([sender.close(), device.close(), stayed.close()]);
});

// A Redis that takes connections and never answers (a hung process, a black-holed route):
// readiness says so after its deadline instead of hanging, and the ping left queued in the
// client fails quietly when the client closes (jest fails a test on an unhandled rejection).
test('readiness gives up on a Redis that never answers, and leaves nothing unhandled', async () => {
  // A Redis that accepts connections and never says a word: the ping waits in ioredis's queue.
  const held = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const redis = new Redis((silent.address() as net.AddressInfo).port, '127.0.0.1');
  redis.on('error', () => undefined);
  try {
    expect(await redisCheck(redis)).toMatch(/^unreachable: no answer within/);
    redis.disconnect(); // the queued ping is failed now ("Connection is closed.")
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    redis.disconnect();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('a server shut down while Redis is away leaves nothing unhandled', async () => {
  // Pings queued while Redis was away, then a shutdown with some still in flight.
  await killRedis();
  await until('/health/ready to say 503', async () => (await readiness()).status === 503);
  await Promise.all([readiness(), readiness(), readiness()]);
  closed = true;
  await server.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
});
