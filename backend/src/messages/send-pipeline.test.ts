/**
 * The send pipeline through the public surface: group commit across chats and senders,
 * refusals inside a batch, backpressure, and the database going away (PostgreSQL only:
 * a proxy between the server and PostgreSQL breaks connections on purpose).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { lockChat } from '../chats/access.js';
import {
  createGroup,
  openDirectChat,
  registerUsers,
  sendText,
  type TestUser,
} from '../../test/support/factories.js';
import { as, client, refusal } from '../../test/support/http.js';
import { testDbMode } from '../../test/support/database.js';
import { startPgProxy, type PgProxy } from '../../test/support/pg-proxy.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame, type WsClient } from '../../test/support/ws.js';

/** Generous: these are safety nets for a busy machine, not expectations of speed. */
const WAIT = 60_000;

const isNew = (chatId: string) => (f: Frame) => f.type === 'message:new' && f.data.message.chatId === chatId;

function send(ws: WsClient, chatId: string, body: string, extra: object = {}) {
  return ws.command('message:send', { chatId, clientMsgId: randomUUID(), body, ...extra }, WAIT);
}

describe('group commit', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    server = await startTestServer({ SEND_RATE_PER_SECOND: '1000', SEND_BURST: '10000' });
    api = client(server.url);
  });
  afterAll(async () => {
    await server.close();
  });

  test('sends into several chats at once: each chat gap-free, every member gets each message once, in seq order', async () => {
    const users = await registerUsers(api, 5);
    const [a, b, c, d, e] = users as [TestUser, TestUser, TestUser, TestUser, TestUser];
    // Overlapping chats, so one batch holds several chats and several senders.
    const chats = [
      await createGroup(api, a, [b, c]),
      await createGroup(api, b, [c, d, e]),
      await createGroup(api, a, [b, c, d, e]),
      await openDirectChat(api, d, e),
    ];
    const members = [
      [a, b, c],
      [b, c, d, e],
      [a, b, c, d, e],
      [d, e],
    ];
    const sockets = new Map(
      await Promise.all(users.map(async (u) => [u.id, await connectAs(server.url, u.accessToken)] as const)),
    );
    const before = chats.map((chat) => chat.lastSeq);

    const acks = await Promise.all(
      chats.flatMap((chat, i) =>
        members[i]!.flatMap((u) =>
          Array.from({ length: 8 }, (_, n) => send(sockets.get(u.id)!, chat.id, `${u.username} ${n}`)),
        ),
      ),
    );
    expect(acks.filter((ack) => !ack.ok)).toEqual([]);

    for (const [i, chat] of chats.entries()) {
      const sent = acks.filter((ack) => ack.data.message.chatId === chat.id);
      const seqs = sent.map((ack) => ack.data.message.seq as number).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: sent.length }, (_, k) => before[i]! + 1 + k));
      for (const member of members[i]!) {
        const ws = sockets.get(member.id)!;
        const got = await ws.waitForCount(isNew(chat.id), sent.length, WAIT);
        const gotSeqs = got.map((f) => f.data.message.seq as number);
        // Once each, in seq order (one node: events leave in commit order).
        expect(gotSeqs).toEqual(seqs);
      }
    }
    // Nobody hears of a chat they are not in.
    for (const [i, chat] of chats.entries()) {
      for (const u of users.filter((u) => !members[i]!.includes(u))) {
        expect(sockets.get(u.id)!.events.filter(isNew(chat.id))).toEqual([]);
      }
    }
    await Promise.all([...sockets.values()].map((ws) => ws.close()));
  });

  test('a refused send does not take the others of its batch down', async () => {
    const [a, b, c, stranger] = (await registerUsers(api, 4)) as [TestUser, TestUser, TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const other = await createGroup(api, c, [a]);
    const elsewhere = await sendText(api, c, other.id, 'in another chat');
    const [wa, ws] = await Promise.all([
      connectAs(server.url, a.accessToken),
      connectAs(server.url, stranger.accessToken),
    ]);
    const retried = randomUUID();
    const first = await wa.command(
      'message:send',
      { chatId: group.id, clientMsgId: retried, body: 'once' },
      WAIT,
    );
    expect(first.ok).toBe(true);

    // All at once, so they share batches.
    const [ok1, notMember, badReply, retry, ok2] = await Promise.all([
      send(wa, group.id, 'fine'),
      send(ws, group.id, 'let me in'),
      send(wa, group.id, 'quoting another chat', { replyTo: elsewhere.id }),
      wa.command('message:send', { chatId: group.id, clientMsgId: retried, body: 'once' }, WAIT),
      send(wa, group.id, 'also fine'),
    ]);
    expect(ok1.ok && ok2.ok).toBe(true);
    expect(notMember.error?.code).toBe('NOT_FOUND');
    expect(badReply.error?.code).toBe('VALIDATION_ERROR');
    expect(retry).toMatchObject({
      ok: true,
      data: { duplicate: true, message: { id: first.data.message.id } },
    });
    const page = await api.get(`/api/chats/${group.id}/messages`, as(b));
    expect(page.body.messages.map((m: any) => m.body)).toEqual(
      expect.arrayContaining(['once', 'fine', 'also fine']),
    );
    expect(page.body.messages.filter((m: any) => m.body === 'once')).toHaveLength(1);
    expect(page.body.messages.map((m: any) => m.body)).not.toContain('let me in');
    await Promise.all([wa.close(), ws.close()]);
  });

  test("the sender's other devices get the message like everyone else's", async () => {
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const chat = await openDirectChat(api, a, b);
    const [phone, laptop] = [
      await connectAs(server.url, a.accessToken),
      await connectAs(server.url, a.accessToken),
    ];
    const ack = await send(phone, chat.id, 'from the phone');
    expect(ack.ok).toBe(true);
    const onLaptop = await laptop.waitFor(isNew(chat.id), WAIT);
    expect(onLaptop.data.message).toEqual(ack.data.message);
    await Promise.all([phone.close(), laptop.close()]);
  });

  test("a sender's new display name is on their very next message", async () => {
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const chat = await openDirectChat(api, a, b);
    const wa = await connectAs(server.url, a.accessToken);
    expect((await send(wa, chat.id, 'as before')).data.message.sender.displayName).toBe(a.displayName);
    expect((await api.put('/api/users/me', { displayName: 'Ada Renamed' }, as(a))).status).toBe(200);
    const after = await send(wa, chat.id, 'renamed');
    expect(after.data.message.sender).toMatchObject({ id: a.id, displayName: 'Ada Renamed' });
    await wa.close();
  });

  test('someone added to a group gets its next message live; someone removed does not', async () => {
    const [a, b, c] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const [wa, wc, wb] = (await Promise.all(
      [a, c, b].map((u) => connectAs(server.url, u.accessToken)),
    )) as unknown as [WsClient, WsClient, WsClient];
    await send(wa, group.id, 'before c'); // the directory now knows the members
    expect((await api.post(`/api/chats/${group.id}/members`, { userIds: [c.id] }, as(a))).status).toBe(200);
    expect((await api.del(`/api/chats/${group.id}/members/${b.id}`, as(a))).status).toBe(204);
    const ack = await send(wa, group.id, 'after');
    expect(
      (await wc.waitFor((f) => isNew(group.id)(f) && f.data.message.id === ack.data.message.id, WAIT)).data
        .message.body,
    ).toBe('after');
    // b hears of the removal, then nothing more from the group.
    await wb.waitFor((f) => f.type === 'chat:member_removed' && f.data.userId === b.id, WAIT);
    await send(wa, group.id, 'and after that');
    await wc.waitForCount(isNew(group.id), 3, WAIT); // system line "added", 'after', 'and after that'
    expect(
      wb.events
        .filter((f) => isNew(group.id)(f) && f.data.message.kind === 'text')
        .map((f) => f.data.message.body),
    ).toEqual(['before c']);
    await Promise.all([wa, wb, wc].map((ws) => ws.close()));
  });
});

describe('waiting for company under load', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    // "Busy" from 1 send/s, so a test's trickle counts as load; a wait of up to 100 ms.
    server = await startTestServer({
      SEND_RATE_PER_SECOND: '1000',
      SEND_BURST: '10000',
      SEND_LINGER_MIN_RATE: '1',
      SEND_LINGER_MAX_MS: '100',
    });
    api = client(server.url);
  });
  afterAll(async () => {
    await server.close();
  });

  const batchesSoFar = async () => {
    const text = (await api.get('/metrics')).text as string;
    return Number(/^parley_send_batch_size_count (\d+)/m.exec(text)?.[1] ?? NaN);
  };

  test('sends of one chat that trickle in while the node is busy share batches, and stay in order', async () => {
    const users = await registerUsers(api, 10);
    const group = await createGroup(api, users[0]!, users.slice(1));
    const sockets = await Promise.all(users.map((u) => connectAs(server.url, u.accessToken)));
    // Sends 20 ms apart, each member in turn (a socket's commands run one at a time):
    // alone, each would be its own batch, as one chat is never in two.
    const trickle = async (label: string, count: number) => {
      const acks: Promise<Frame>[] = [];
      for (let n = 0; n < count; n++) {
        acks.push(send(sockets[n % sockets.length]!, group.id, `${label} ${n}`));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return Promise.all(acks);
    };
    // The node measures its rate over a quarter of a second first.
    expect((await trickle('warm-up', 15)).filter((ack) => !ack.ok)).toEqual([]);
    const before = await batchesSoFar();
    const acks = await trickle('busy', 40);
    const batches = (await batchesSoFar()) - before;
    expect(acks.filter((ack) => !ack.ok)).toEqual([]);
    expect(batches).toBeGreaterThan(0);
    // Some shared a batch (on a quiet machine most do; on a starved one the trickle's own
    // timers may fire further apart than the wait, so only "not one batch each" is certain).
    expect(batches).toBeLessThan(40);
    // Gap-free, in the order they were sent (each one's turn came 20 ms after the last).
    const seqs = acks.map((ack) => ack.data.message.seq as number).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, k) => seqs[0]! + k));
    const got = await sockets[0]!.waitForCount(
      (f) => isNew(group.id)(f) && f.data.message.body.startsWith('busy'),
      40,
      WAIT,
    );
    expect(got.map((f) => f.data.message.seq)).toEqual(seqs);
    await Promise.all(sockets.map((ws) => ws.close()));
  });
});

describe('backpressure', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    server = await startTestServer({
      SEND_RATE_PER_SECOND: '1000',
      SEND_BURST: '10000',
      SEND_QUEUE_MAX: '2',
      SEND_BATCH_CONCURRENCY: '1',
      // One user's four devices send at once here (PGlite's default runs one at a time).
      USER_COMMANDS_IN_FLIGHT: '4',
    });
    api = client(server.url);
  });
  afterAll(async () => {
    await server.close();
  });

  test('a full send queue is refused with a retryable SERVICE_UNAVAILABLE, and everything queued still commits', async () => {
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    // A socket runs its commands one at a time: one device per send that must wait at once.
    const [wa, w1, w2, w3] = (await Promise.all(
      [1, 2, 3, 4].map(() => connectAs(server.url, a.accessToken)),
    )) as unknown as [WsClient, WsClient, WsClient, WsClient];
    // A first send: the node now knows the chat's members without asking the database.
    expect((await send(wa, group.id, 'warm')).ok).toBe(true);
    const startSeq = group.lastSeq + 1;
    // Hold the chat's row (PostgreSQL) or the one PGlite connection: the pipeline's batch waits.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = server.running.ctx.db.prisma.$transaction(
      async (tx) => {
        await lockChat(tx, group.id);
        locked();
        await released;
      },
      { timeout: 120_000 },
    );
    await isLocked;
    // One batch waits in the database, two sends wait in the queue; the rest is refused.
    const { pipeline } = server.running.ctx;
    const inFlight = send(wa, group.id, 'in the batch');
    await waitUntil(() => pipeline.inFlight === 1);
    const queued = [send(w1, group.id, 'queued 1'), send(w2, group.id, 'queued 2')];
    await waitUntil(() => pipeline.queued === 2);
    const refused = await send(w3, group.id, 'one too many');
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      details: { retryAfterMs: expect.any(Number) },
    });
    if (testDbMode() === 'postgres') {
      // (On PGlite the held connection would also hold up the REST call's sign-in check.)
      const rest = await api.post(
        `/api/chats/${group.id}/messages`,
        { clientMsgId: randomUUID(), body: 'rest' },
        as(a),
      );
      expect(refusal(rest)).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE' });
      expect(Number(rest.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }

    release();
    await holder;
    const acks = await Promise.all([inFlight, ...queued]);
    expect(acks.map((ack) => ack.ok)).toEqual([true, true, true]);
    expect(acks.map((ack) => ack.data.message.seq)).toEqual([startSeq + 1, startSeq + 2, startSeq + 3]);
    // And it takes new sends again.
    expect((await send(w3, group.id, 'after')).ok).toBe(true);
    await Promise.all([wa, w1, w2, w3].map((ws) => ws.close()));
  });
});

describe('bursts', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    server = await startTestServer();
    api = client(server.url);
  });
  afterAll(async () => {
    await server.close();
  });

  test('50 groups created at once, more than the pool has connections: each one is created or refused as retryable, never a 500', async () => {
    const users = await registerUsers(api, 60);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api.post(
          '/api/chats/group',
          { name: `burst ${i}`, memberIds: users.slice(50, 60).map((u) => u.id) },
          as(users[i]!),
        ),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    for (const r of results.filter((r) => r.status === 503)) {
      expect(r.body.error).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        details: { retryAfterMs: expect.any(Number) },
      });
    }
    // Those created are whole: ten members each, and the system line.
    for (const r of results.filter((r) => r.status === 201)) {
      expect(r.body).toMatchObject({ memberCount: 11, lastSeq: 1 });
    }
  });
});

async function waitUntil(condition: () => boolean) {
  for (let i = 0; i < 6_000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

const onPostgres = testDbMode() === 'postgres' ? describe : describe.skip;

onPostgres('the database connection breaks (PostgreSQL)', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  let proxy: PgProxy;
  beforeAll(async () => {
    server = await startTestServer(
      {
        SEND_RATE_PER_SECOND: '1000',
        SEND_BURST: '10000',
        DATABASE_ACQUIRE_TIMEOUT_MS: '2000',
        SEND_QUEUE_TIMEOUT_MS: '4000',
        OUTBOX_STALE_MS: '5000',
      },
      {
        // Every connection of the server goes through a proxy the test can break.
        database: async (target) => {
          if (target.kind !== 'postgres') throw new Error('PostgreSQL only');
          proxy = await startPgProxy(target.url);
          return { kind: 'postgres', url: proxy.url };
        },
      },
    );
    api = client(server.url);
  });
  afterAll(async () => {
    await server.close();
    await proxy.close();
  });

  test('cut right after a batch commits: the sender gets its ack and every member the message, live and once', async () => {
    const [a, b, c] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
    const group = await createGroup(api, a, [b, c]);
    const [wa, wb, wc] = (await Promise.all(
      [a, b, c].map((u) => connectAs(server.url, u.accessToken)),
    )) as unknown as [WsClient, WsClient, WsClient];
    const cut = proxy.cutAfter({ statement: 'send-batch' });
    const ack = await send(wa, group.id, 'through a broken connection');
    await cut;
    expect(ack).toMatchObject({ ok: true, data: { duplicate: false, message: { seq: group.lastSeq + 1 } } });
    for (const ws of [wa, wb, wc]) {
      const got = await ws.waitFor(isNew(group.id), WAIT);
      expect(got.data.message.id).toBe(ack.data.message.id);
    }
    // Stored once; the next send takes the next seq.
    const next = await send(wa, group.id, 'and on');
    expect(next.data.message.seq).toBe(group.lastSeq + 2);
    await wb.waitForCount(isNew(group.id), 2, WAIT);
    expect(wb.events.filter(isNew(group.id)).map((f) => f.data.message.seq)).toEqual([
      group.lastSeq + 1,
      group.lastSeq + 2,
    ]);
    await Promise.all([wa, wb, wc].map((ws) => ws.close()));
  });

  test('cut right after an edit commits (one statement): the relay publishes it from the outbox', async () => {
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const message = await sendText(api, a, group.id, 'first version');
    const wb = await connectAs(server.url, b.accessToken);
    const cut = proxy.cutAfter({ statement: 'message-edit' });
    const edit = await api.put(`/api/messages/${message.id}`, { body: 'second version' }, as(a));
    await cut;
    // The server could not know the commit happened: a retryable answer, not a 500.
    expect(refusal(edit)).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE' });
    // The edit did commit, and its event is in the outbox: once the row is old enough to
    // count as left behind, the relay publishes it.
    server.clock.advance(10_000);
    await server.running.ctx.relay.sweep();
    const edited = await wb.waitFor((f) => f.type === 'message:edited', WAIT);
    expect(edited.data.message).toMatchObject({ id: message.id, body: 'second version' });
    await wb.close();
  });

  test('cut right after a transaction commits (a delete): the relay publishes it from the outbox', async () => {
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const message = await sendText(api, a, group.id, 'soon gone');
    const wb = await connectAs(server.url, b.accessToken);
    const cut = proxy.cutAfter({ query: /^COMMIT/i });
    const removal = await api.del(`/api/messages/${message.id}?scope=everyone`, as(a));
    await cut;
    expect(refusal(removal)).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE' });
    server.clock.advance(10_000);
    await server.running.ctx.relay.sweep();
    const deleted = await wb.waitFor((f) => f.type === 'message:deleted', WAIT);
    expect(deleted.data).toMatchObject({ messageId: message.id, scope: 'everyone' });
    await wb.close();
  });

  test('the database away: sends are refused as retryable, never a 500 or a hang, and work again when it is back', async () => {
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const wa = await connectAs(server.url, a.accessToken);
    proxy.cutAll();
    try {
      const overSocket = await send(wa, group.id, 'while away');
      expect(overSocket.error).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        details: { retryAfterMs: expect.any(Number) },
      });
      const overRest = await api.post(
        `/api/chats/${group.id}/messages`,
        { clientMsgId: randomUUID(), body: 'x' },
        as(a),
      );
      expect(refusal(overRest)).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE' });
      const reading = await api.get(`/api/chats/${group.id}/messages`, as(a));
      expect(reading.status).toBe(503);
    } finally {
      proxy.restore();
    }
    const again = await send(wa, group.id, 'back');
    expect(again.ok).toBe(true);
    await wa.close();
  });
});
