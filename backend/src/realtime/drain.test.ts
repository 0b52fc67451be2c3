/**
 * Graceful shutdown: the server drains before it closes. Readiness says 503 at once and new
 * sockets are refused (the load balancer and the clients go to another node); the open
 * sockets are closed with 1001 a few at a time over SHUTDOWN_DRAIN_MS, each only after
 * every command it had sent is answered, so a device reconnects elsewhere and resumes
 * without losing or repeating anything.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { wsCloseCodes } from '@parley/contracts';
import { createGroup, registerUsers, type TestUser } from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { waitUntil } from '../../test/support/wait.js';
import { connectAs, openWs, type WsClient } from '../../test/support/ws.js';

const WAIT = 60_000;
const DRAIN_MS = 1_000;
const SOCKETS = 20;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ SHUTDOWN_DRAIN_MS: String(DRAIN_MS), SEND_RATE_PER_SECOND: '1000' });
});
afterAll(async () => {
  await server?.close();
});

test('a draining server is not ready, refuses new sockets, and sends the open ones away over the drain time, each after its commands are answered', async () => {
  const api = client(server.url);
  const users = (await registerUsers(api, 4)) as TestUser[];
  const [a, ...others] = users as [TestUser, ...TestUser[]];
  const group = await createGroup(api, a, others);
  const sockets: WsClient[] = [];
  for (let n = 0; n < SOCKETS; n++)
    sockets.push(await connectAs(server.url, users[n % users.length]!.accessToken));
  const closedAt = new Map<WsClient, number>();
  for (const s of sockets) void s.closed.then(() => closedAt.set(s, Date.now()));
  const sender = sockets[0]!;

  // Sends in flight when the drain starts (the first is being handled): each is answered
  // (done, or refused as retryable), or, sent when its socket was already closing, meets
  // the close unanswered: then it was not done, and its device sends it again after
  // reconnecting.
  for (let n = 0; n < 20; n++) {
    sender.sendRaw(
      JSON.stringify({
        type: 'message:send',
        id: `send-${n}`,
        data: { chatId: group.id, clientMsgId: randomUUID(), body: `in flight ${n}` },
      }),
    );
  }
  await sender.waitFor((f) => f.type === 'ack' && f.id === 'send-0', WAIT);
  // What close() (SIGTERM) does first; here the server stays up afterwards to be asked.
  const drained = server.running.ctx.sockets!.drain(DRAIN_MS);

  const ready = await api.get('/health/ready');
  expect(ready.status).toBe(503);
  expect(ready.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { server: 'draining' } });
  // Liveness is not readiness.
  expect((await api.get('/health')).status).toBe(200);
  await expect(openWs(server.url)).rejects.toThrow(/upgrade refused: 503/);

  await sender.closed;
  const acks = sender.events.filter((f) => f.type === 'ack');
  for (const ack of acks) {
    if (!ack.ok)
      expect(ack.error).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        details: { retryAfterMs: expect.any(Number) },
      });
  }
  const closes = await Promise.all(sockets.map((s) => s.closed));
  for (const c of closes) expect(c.code).toBe(wsCloseCodes.goingAway);
  await waitUntil('every close to be seen', async () => closedAt.size === SOCKETS, WAIT);
  // Spread: the slices are DRAIN_MS / SOCKETS apart at least, so the first and the last
  // socket went away nearly DRAIN_MS apart (a lower bound: a busy machine only widens it).
  const times = [...closedAt.values()];
  expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(DRAIN_MS * 0.8);

  await drained;

  // Everything acknowledged was committed, once.
  const committed = acks.filter((ack) => ack.ok).map((ack) => ack.data.message.id as string);
  expect(committed.length).toBeGreaterThan(0);
  const page = await api.get(`/api/chats/${group.id}/messages?limit=100`, { token: a.accessToken });
  const stored = (page.body.messages as { id: string; body: string }[]).filter((m) =>
    m.body?.startsWith('in flight'),
  );
  expect(stored.map((m) => m.id).sort()).toEqual([...committed].sort());
});

test('a socket that ignores the close handshake, or an upgrade that arrives while the server closes, does not hold the shutdown up', async () => {
  const other = await startTestServer({ SHUTDOWN_DRAIN_MS: '0' });
  const { port } = new URL(other.url);
  // A raw client: upgrades, then never answers anything (nor the close frame).
  const deaf = net.connect(Number(port), '127.0.0.1');
  deaf.on('error', () => undefined);
  const upgraded = new Promise<string>((resolve) => deaf.once('data', (d) => resolve(d.toString())));
  deaf.write(upgradeRequest());
  expect(await upgraded).toMatch(/^HTTP\/1\.1 101/);
  const deafClosed = new Promise<void>((resolve) => deaf.once('close', () => resolve()));
  const closing = other.close();
  // Upgrades while it closes: refused (503), their connections closed by the server.
  const late = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const s = net.connect(Number(port), '127.0.0.1');
      s.on('error', () => undefined);
      const answer = new Promise<string>((resolve) => {
        let text = '';
        s.on('data', (d) => (text += d.toString()));
        s.once('close', () => resolve(text));
      });
      s.write(upgradeRequest());
      return answer;
    }),
  );
  for (const answer of late) expect(answer === '' || /^HTTP\/1\.1 503/.test(answer)).toBe(true);
  await closing;
  await deafClosed;
});

function upgradeRequest(): string {
  return [
    'GET /ws HTTP/1.1',
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${Buffer.from(randomUUID().slice(0, 16)).toString('base64')}`,
    '',
    '',
  ].join('\r\n');
}
