/**
 * The outbox relay's recovery path: what a node committed but never published (it died
 * between commit and publish) is published by the relay of whichever node sweeps, once
 * the rows are old enough to count as left behind. Time is the app clock.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { appendMessage } from '../messages/append-message.js';
import { createGroup, registerUsers, sendText, type TestUser } from '../../test/support/factories.js';
import { as, client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame, type WsClient } from '../../test/support/ws.js';
import { writeOutbox, type OutboxEntry } from './outbox.js';

const WAIT = 60_000;
const STALE_MS = 5_000;

let server: TestServer;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  // The relay's own timer is slow here: the tests sweep by hand, after moving the clock.
  server = await startTestServer({ OUTBOX_SWEEP_MS: '600000', OUTBOX_STALE_MS: String(STALE_MS) });
  api = client(server.url);
});
afterAll(async () => {
  await server.close();
});

/** What a node does up to the commit, then "dies": the entries are never handed to its relay. */
async function commitWithoutPublishing(build: (now: Date) => Promise<OutboxEntry[]> | OutboxEntry[]) {
  const { db } = server.running.ctx;
  const now = server.clock.now();
  return db.prisma.$transaction(async (tx) => {
    const entries = await build(now);
    return writeOutbox(tx, now, entries);
  });
}

async function outboxRows(): Promise<number> {
  const [row] = await server.running.ctx.db.withConnection((c) =>
    c.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox'),
  );
  return row!.n;
}

const settle = () => new Promise((r) => setTimeout(r, 300));

test('a message a crashed node committed but never published reaches every member once the relay sweeps', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const [wa, wb] = (await Promise.all(
    [a, b].map((u) => connectAs(server.url, u.accessToken)),
  )) as unknown as [WsClient, WsClient];
  const { db } = server.running.ctx;
  let messageId = '';
  await db.prisma.$transaction(async (tx) => {
    const now = server.clock.now();
    const row = await appendMessage(tx, group.id, now, { kind: 'text', senderId: a.id, body: 'left behind' });
    messageId = row.id;
    await writeOutbox(tx, now, [{ kind: 'messages', messageIds: [row.id] }]);
  });
  const isIt = (f: Frame) => f.type === 'message:new' && f.data.message.id === messageId;

  // Not yet stale: a sweep leaves it to the node that wrote it.
  expect(await server.running.ctx.relay.sweep()).toBe(0);
  await settle();
  expect(wb.events.filter(isIt)).toEqual([]);

  server.clock.advance(STALE_MS + 1_000);
  expect(await server.running.ctx.relay.sweep()).toBe(1);
  for (const ws of [wa, wb]) {
    const got = await ws.waitFor(isIt, WAIT);
    expect(got.data.message).toMatchObject({ chatId: group.id, body: 'left behind', seq: group.lastSeq + 1 });
  }
  expect(await outboxRows()).toBe(0);
  // Published once: a second sweep finds nothing.
  expect(await server.running.ctx.relay.sweep()).toBe(0);
  await settle();
  expect(wb.events.filter(isIt)).toHaveLength(1);
  await Promise.all([wa.close(), wb.close()]);
});

test('events rendered at publish time come out right after a crash: a new member’s chat, a chat update, an event', async () => {
  const [a, b, c] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const [wb, wc] = (await Promise.all(
    [b, c].map((u) => connectAs(server.url, u.accessToken)),
  )) as unknown as [WsClient, WsClient];
  const { db } = server.running.ctx;
  await db.prisma.$transaction(async (tx) => {
    const now = server.clock.now();
    await tx.chat.update({ where: { id: group.id }, data: { name: 'renamed while dying' } });
    await tx.chatMember.create({ data: { chatId: group.id, userId: c.id, role: 'member', joinedAt: now } });
    await writeOutbox(tx, now, [
      { kind: 'chat-created', chatId: group.id, userIds: [c.id] },
      { kind: 'chat-updated', chatId: group.id },
      {
        kind: 'event',
        audience: { userIds: [b.id] },
        event: { type: 'contact:removed', data: { userId: c.id } },
      },
    ]);
  });
  server.clock.advance(STALE_MS + 1_000);
  expect(await server.running.ctx.relay.sweep()).toBe(3);
  const created = await wc.waitFor((f) => f.type === 'chat:created', WAIT);
  expect(created.data.chat).toMatchObject({ id: group.id, name: 'renamed while dying', myRole: 'member' });
  // The chat's audience is its members at publish time: c is one now.
  for (const ws of [wb, wc]) {
    const updated = await ws.waitFor((f) => f.type === 'chat:updated', WAIT);
    expect(updated.data.chat).toMatchObject({ id: group.id, name: 'renamed while dying', memberCount: 3 });
  }
  expect((await wb.waitFor((f) => f.type === 'contact:removed', WAIT)).data).toEqual({ userId: c.id });
  await Promise.all([wb.close(), wc.close()]);
});

test('a claim whose relay died is taken over once it is stale', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const wb = await connectAs(server.url, b.accessToken);
  const event = { type: 'message:expired' as const, data: { chatId: group.id, messageIds: [] as string[] } };
  const [id] = await commitWithoutPublishing(() => [
    { kind: 'event', audience: { chatId: group.id }, event },
  ]);
  server.clock.advance(STALE_MS + 1_000);
  // Another node claimed it just now, then died before publishing.
  await server.running.ctx.db.withConnection((c) =>
    c.query('UPDATE outbox SET claimed_at = $1 WHERE id = $2', [server.clock.now(), id]),
  );
  expect(await server.running.ctx.relay.sweep()).toBe(0);
  server.clock.advance(STALE_MS + 1_000);
  expect(await server.running.ctx.relay.sweep()).toBe(1);
  await wb.waitFor((f) => f.type === 'message:expired' && f.data.chatId === group.id, WAIT);
  await wb.close();
});

/**
 * Runs `request` on a node that "dies" between a commit and handing its events to the relay:
 * what the request committed is left in the outbox. Then moves the clock past the stale
 * age and sweeps, as another node's relay would, expecting one row to be published.
 */
async function committedByDyingNode(request: () => Promise<void>) {
  const { relay } = server.running.ctx;
  const committed = relay.committed;
  relay.committed = () => Promise.resolve();
  try {
    await request();
  } finally {
    relay.committed = committed;
  }
  server.clock.advance(STALE_MS + 1_000);
  expect(await relay.sweep()).toBe(1);
}

test('a reaction (one statement, its event written by the database) reaches the members as it was meant after a crash', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const message = await sendText(api, a, group.id, 'react to me');
  const listed = async () =>
    (
      (await api.get(`/api/chats/${group.id}/messages`, as(b))).body.messages as {
        id: string;
        version: number;
      }[]
    ).find((m) => m.id === message.id)!;
  const before = (await listed()).version;
  const wb = await connectAs(server.url, b.accessToken);
  await committedByDyingNode(async () => {
    const res = await api.post(`/api/messages/${message.id}/reactions`, { emoji: '🎉' }, as(a));
    expect(res.status).toBe(200);
    await settle();
    expect(wb.events.filter((f) => f.type === 'reaction:added')).toEqual([]);
  });
  const got = await wb.waitFor((f) => f.type === 'reaction:added', WAIT);
  const stored = await listed();
  expect(got.data).toEqual({
    chatId: group.id,
    messageId: message.id,
    userId: a.id,
    emoji: '🎉',
    version: stored.version,
  });
  expect(stored.version).toBe(before + 1);
  await wb.close();
});

test('an edit (one statement) is published as the stored message after a crash', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const message = await sendText(api, a, group.id, 'first words');
  const wb = await connectAs(server.url, b.accessToken);
  await committedByDyingNode(async () => {
    const res = await api.put(`/api/messages/${message.id}`, { body: `second words @${b.username}` }, as(a));
    expect(res.status).toBe(200);
    await settle();
    expect(wb.events.filter((f) => f.type === 'message:edited')).toEqual([]);
  });
  const got = await wb.waitFor((f) => f.type === 'message:edited', WAIT);
  expect(got.data.message).toMatchObject({
    id: message.id,
    chatId: group.id,
    body: `second words @${b.username}`,
    mentions: [b.id],
  });
  expect(got.data.message.editedAt).not.toBeNull();
  // Not published twice, nor as a new message.
  expect(wb.events.filter((f) => f.type === 'message:new' && f.data.message.id === message.id)).toEqual([]);
  await wb.close();
});
