/**
 * One client must not degrade the server for others (specs/security.md, item 1): a socket
 * flooding frames is read no faster than its rate (its frames wait unparsed in TCP); every command type and REST route
 * has a per-user allowance; one account and one address may hold only so many sockets on a
 * node. Each server here is set with small limits so the tests reach them quickly.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { wsCloseCodes } from '@parley/contracts';
import WebSocket from 'ws';
import { createGroup, openDirectChat, registerUsers, type TestUser } from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, openWs, wsUrl, type WsClient } from '../../test/support/ws.js';

const servers: TestServer[] = [];
const sockets: WsClient[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  await Promise.all(servers.map((s) => s.close()));
}, 120_000);

async function serverWith(env: Record<string, string>) {
  const server = await startTestServer({ SEND_RATE_PER_SECOND: '1000', ...env });
  servers.push(server);
  return { server, api: client(server.url) };
}

async function socketOf(url: string, user: TestUser) {
  const ws = await connectAs(url, user.accessToken);
  sockets.push(ws);
  return ws;
}

describe('a socket flooding frames', () => {
  let server: TestServer;
  let flooder: TestUser;
  let sender: TestUser;
  let receiver: TestUser;
  let spreader: TestUser;
  let chatId: string;
  beforeAll(async () => {
    ({ server } = await serverWith({ WS_FRAME_RATE_PER_SECOND: '20', WS_FRAME_BURST: '40' }));
    const api = client(server.url);
    [flooder, sender, receiver, spreader] = (await registerUsers(api, 4)) as [
      TestUser,
      TestUser,
      TestUser,
      TestUser,
    ];
    chatId = (await openDirectChat(api, sender, receiver)).id;
  }, 120_000);

  test('is read no faster than its rate once past its burst: nothing refused or lost, all answered in order, while another user goes on', async () => {
    const [flood, from, to] = await Promise.all([
      socketOf(server.url, flooder),
      socketOf(server.url, sender),
      socketOf(server.url, receiver),
    ]);
    const answered = () => flood.events.filter((f) => f.type === 'ack');
    const started = performance.now();
    for (let i = 0; i < 100; i++)
      flood.sendRaw(JSON.stringify({ type: 'typing:stop', id: `f${i}`, data: { chatId: randomUUID() } }));
    // Another user is not held back: answered and delivered while the flood is still read.
    const ack = await from.command('message:send', { chatId, clientMsgId: randomUUID(), body: 'still here' });
    expect(ack.ok).toBe(true);
    await to.waitFor((f) => f.type === 'message:new' && f.data.message.id === ack.data.message.id);
    expect(answered().length).toBeLessThan(100);

    await flood.waitForCount((f) => f.type === 'ack', 100, 60_000);
    // The burst (40) at once, the other 60 at 20 a second: at least 2.95 s (more on a busy machine).
    expect(performance.now() - started).toBeGreaterThanOrEqual(2_950);
    expect(answered().map((f) => f.id)).toEqual(Array.from({ length: 100 }, (_, i) => `f${i}`));
    // Still open, and still answering.
    expect((await flood.command('typing:stop', { chatId })).id).toBeDefined();
    const state = await Promise.race([flood.closed, Promise.resolve('open')]);
    expect(state).toBe('open');
  });

  test("spread over several sockets, each under its own burst, it is held to its user's", async () => {
    // Three sockets, 30 frames each: under a socket's burst (40), past the user's (also 40),
    // whose rate is 40 a second (twice a socket's).
    const socks = await Promise.all([1, 2, 3].map(() => socketOf(server.url, spreader)));
    const started = performance.now();
    for (const [n, sock] of socks.entries())
      for (let i = 0; i < 30; i++)
        sock.sendRaw(
          JSON.stringify({ type: 'typing:stop', id: `s${n}.${i}`, data: { chatId: randomUUID() } }),
        );
    await Promise.all(socks.map((sock) => sock.waitForCount((f) => f.type === 'ack', 30, 60_000)));
    // 40 at once, the other 50 at 40 a second: at least 1.225 s.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_225);
    for (const [n, sock] of socks.entries()) {
      expect(sock.events.filter((f) => f.type === 'ack').map((f) => f.id)).toEqual(
        Array.from({ length: 30 }, (_, i) => `s${n}.${i}`),
      );
      expect(await Promise.race([sock.closed, Promise.resolve('open')])).toBe('open');
    }
  });
});

describe('per-user allowances', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let a: TestUser;
  let b: TestUser;
  let chatId: string;
  beforeAll(async () => {
    ({ server, api } = await serverWith({
      USER_COMMAND_RATE_PER_SECOND: '1',
      USER_COMMAND_BURST: '0',
      USER_READ_RATE_PER_SECOND: '1',
      USER_READ_BURST: '0',
    }));
    [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    chatId = (await openDirectChat(api, a, b)).id;
  }, 120_000);

  test('each WebSocket command type has its own, answered with RATE_LIMITED and when to retry', async () => {
    const ws = await socketOf(server.url, a);
    const acks = await Promise.all(
      Array.from({ length: 30 }, () => ws.command('chat:read', { chatId, upToSeq: 0 })),
    );
    const limited = acks.filter((f) => !f.ok);
    expect(limited.length).toBeGreaterThanOrEqual(10);
    expect(acks.filter((f) => f.ok).length).toBeGreaterThanOrEqual(1);
    for (const f of limited) {
      expect(f.error?.code).toBe('RATE_LIMITED');
      expect((f.error?.details as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    }
    // Another command type still has its allowance, and sends have their own limiter.
    expect((await ws.command('typing:start', { chatId })).ok).toBe(true);
    const send = await ws.command('message:send', { chatId, clientMsgId: randomUUID(), body: 'hi' });
    expect(send.ok).toBe(true);
    // Another user is not held back by this one.
    const other = await socketOf(server.url, b);
    expect((await other.command('chat:read', { chatId, upToSeq: 0 })).ok).toBe(true);
  });

  test('sends are held by their own limiter only, over REST as over WebSocket', async () => {
    const sends = await Promise.all(
      Array.from({ length: 8 }, (_, n) =>
        api.post(
          `/api/chats/${chatId}/messages`,
          { clientMsgId: randomUUID(), body: `rest ${n}` },
          {
            token: a.accessToken,
          },
        ),
      ),
    );
    expect(sends.map((r) => r.status)).toEqual(Array(8).fill(201));
  });

  test('REST reads share one, and each write route has its own: 429 in the error shape with Retry-After', async () => {
    const reads = await Promise.all(
      Array.from({ length: 30 }, () => api.get('/api/chats', { token: b.accessToken })),
    );
    const refused = reads.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(10);
    expect(refused[0]!.body.error.code).toBe('RATE_LIMITED');
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // A write route is counted apart from reads.
    const write = await api.put('/api/users/me', { displayName: 'New name' }, { token: b.accessToken });
    expect(write.status).toBe(200);
    // ...and has its own allowance.
    const writes = await Promise.all(
      Array.from({ length: 30 }, () =>
        api.put('/api/users/me', { displayName: 'Newer name' }, { token: b.accessToken }),
      ),
    );
    expect(writes.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(10);
  });
});

describe('one user keeping the database busy', () => {
  test("another user's command is answered in between, not after all of theirs", async () => {
    // Allowances high enough that nothing is refused: this is about taking turns.
    const { server, api } = await serverWith({
      USER_COMMAND_RATE_PER_SECOND: '10000',
      USER_COMMAND_BURST: '0',
      USER_COMMAND_TOTAL_RATE_PER_SECOND: '10000',
      USER_COMMAND_TOTAL_BURST: '0',
      WS_FRAME_RATE_PER_SECOND: '10000',
    });
    const [busy, other, peer] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
    const busyChat = (await createGroup(api, busy, [peer])).id;
    const otherChat = (await openDirectChat(api, other, peer)).id;
    const [busyWs, otherWs] = await Promise.all([socketOf(server.url, busy), socketOf(server.url, other)]);
    const mine = await busyWs.command('message:send', {
      chatId: busyChat,
      clientMsgId: randomUUID(),
      body: 'm',
    });
    const messageId = (mine.data as { message: { id: string } }).message.id;

    // 120 reactions (each a transaction of several statements), all in at once.
    const order: string[] = [];
    const reactions = Array.from({ length: 120 }, (_, i) =>
      busyWs
        .command(i % 2 ? 'reaction:remove' : 'reaction:add', { messageId, emoji: '👍' }, 120_000)
        .then((ack) => {
          order.push('busy');
          return ack;
        }),
    );
    // Once the first of them is answered, the other user sends one message.
    await Promise.race(reactions);
    const send = otherWs
      .command('message:send', { chatId: otherChat, clientMsgId: randomUUID(), body: 'in between' }, 120_000)
      .then((ack) => {
        order.push('other');
        return ack;
      });
    expect((await send).ok).toBe(true);
    expect((await Promise.all(reactions)).every((ack) => ack.ok)).toBe(true);
    // The other user's message was answered before the busy user's last reactions.
    expect(order.indexOf('other')).toBeLessThan(order.length - 10);
  }, 180_000);
});

describe('sockets at once', () => {
  test('one account may hold WS_MAX_SOCKETS_PER_USER on a node; the next is refused and closed', async () => {
    const { server, api } = await serverWith({ WS_MAX_SOCKETS_PER_USER: '2' });
    const [user] = await registerUsers(api, 1);
    const first = await socketOf(server.url, user!);
    await socketOf(server.url, user!);
    const third = await openWs(server.url);
    sockets.push(third);
    const ack = await third.command('auth', { token: user!.accessToken });
    expect(ack.ok).toBe(false);
    expect(ack.error?.code).toBe('RATE_LIMITED');
    expect((await third.closed).code).toBe(wsCloseCodes.policyViolation);
    // Once one closes, a new one gets in.
    await first.close();
    let fourth: WsClient | undefined;
    for (let i = 0; i < 100 && !fourth; i++) {
      const ws = await openWs(server.url);
      sockets.push(ws);
      if ((await ws.command('auth', { token: user!.accessToken })).ok) fourth = ws;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(fourth).toBeDefined();
  }, 120_000);

  test('one address may open WS_MAX_SOCKETS_PER_ADDRESS; the next upgrade gets a 429 in the error shape', async () => {
    const { server } = await serverWith({
      WS_MAX_SOCKETS_PER_ADDRESS: '3',
      ADDRESS_LIMITS_LOOPBACK: 'limit',
    });
    for (let i = 0; i < 3; i++) sockets.push(await openWs(server.url));
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(wsUrl(server.url));
      ws.on('open', () => reject(new Error('the fourth socket was let in')));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('error', () => undefined);
    });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body).error.code).toBe('RATE_LIMITED');
  }, 120_000);

  test('one address may ask for WS_CONNECT_RATE_PER_ADDRESS upgrades a second (plus the burst); the rest get a 429 before any handshake', async () => {
    const { server } = await serverWith({
      WS_CONNECT_RATE_PER_ADDRESS: '1',
      WS_CONNECT_BURST_PER_ADDRESS: '3',
      ADDRESS_LIMITS_LOOPBACK: 'limit',
    });
    /** Opens and closes a socket at once, as a client reconnecting in a loop; its HTTP answer if refused. */
    const attempt = () =>
      new Promise<{ status: number; body: string; retryAfter: string | undefined } | 'open'>(
        (resolve, reject) => {
          const ws = new WebSocket(wsUrl(server.url));
          ws.on('open', () => {
            ws.terminate();
            resolve('open');
          });
          ws.on('unexpected-response', (_req, res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] }),
            );
          });
          ws.on('error', (err) => reject(err));
        },
      );
    // Twenty at once: the steady second's one and the burst's three get in, and one more for
    // every further second the twenty take to be answered (far fewer than sixteen).
    const outcomes = await Promise.all(Array.from({ length: 20 }, attempt));
    const opened = outcomes.filter((o) => o === 'open').length;
    expect(opened).toBeGreaterThanOrEqual(4);
    const refused = outcomes.filter((o) => o !== 'open');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(r.body).error).toMatchObject({
        code: 'RATE_LIMITED',
        details: { retryAfterMs: expect.any(Number) },
      });
    }
    // Sockets already open are not touched, and once the wait is over the address may connect again.
    const wait = Math.max(...refused.map((r) => JSON.parse(r.body).error.details.retryAfterMs as number));
    await new Promise((r) => setTimeout(r, wait + 50));
    expect(await attempt()).toBe('open');
  }, 120_000);
});
