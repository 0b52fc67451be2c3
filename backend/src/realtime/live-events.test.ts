/**
 * Live events between several users: edits, deletes, reactions, receipts, typing,
 * presence, membership, and what a non-member never hears. The state test at the end
 * applies the live events to a stale copy and checks it equals a fresh fetch.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import {
  createGroup,
  openDirectChat,
  registerUser,
  sendText,
  type TestUser,
} from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame, type WsClient } from '../../test/support/ws.js';

let server: TestServer;
let api: ReturnType<typeof client>;
/** Long, so that no typing state here ends by itself while a test waits (see 'typing'). */
const TYPING_TIMEOUT_MS = 60_000;

beforeAll(async () => {
  server = await startTestServer({
    TYPING_TIMEOUT_MS: String(TYPING_TIMEOUT_MS),
    SEND_RATE_PER_SECOND: '1000',
  });
  api = client(server.url);
});
afterAll(async () => {
  await server.close();
});

const of = (type: string, chatId?: string) => (f: Frame) =>
  f.type === type && (chatId === undefined || f.data.chatId === chatId || f.data.message?.chatId === chatId);
const settle = (ms = 250) => new Promise((r) => setTimeout(r, ms));

async function trio() {
  const users = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
  const group = await createGroup(api, users[0]!, [users[1]!, users[2]!]);
  const sockets = await Promise.all(users.map((u) => connectAs(server.url, u.accessToken)));
  return { users: users as [TestUser, TestUser, TestUser], group, sockets: sockets as WsClient[] };
}

test('edits, deletes and reactions reach every member', async () => {
  const { users, group, sockets } = await trio();
  const [a, b] = users;
  const sent = await sockets[0]!.command('message:send', {
    chatId: group.id,
    clientMsgId: randomUUID(),
    body: 'v1',
  });
  const id = sent.data.message.id;
  expect((await sockets[0]!.command('message:edit', { messageId: id, body: 'v2' })).ok).toBe(true);
  expect((await sockets[1]!.command('reaction:add', { messageId: id, emoji: '👍' })).ok).toBe(true);
  expect((await sockets[2]!.command('reaction:add', { messageId: id, emoji: '🎉' })).ok).toBe(true);
  expect((await sockets[2]!.command('reaction:remove', { messageId: id, emoji: '🎉' })).ok).toBe(true);
  expect((await sockets[0]!.command('message:delete', { messageId: id, scope: 'everyone' })).ok).toBe(true);
  for (const ws of sockets) {
    const edited = await ws.waitFor(of('message:edited', group.id));
    expect(edited.data.message).toMatchObject({ id, body: 'v2', version: 2 });
    expect(edited.data.message.editedAt).not.toBeNull();
    expect((await ws.waitFor(of('reaction:added', group.id))).data).toMatchObject({
      messageId: id,
      userId: b.id,
      emoji: '👍',
    });
    expect((await ws.waitFor(of('reaction:removed', group.id))).data).toMatchObject({
      emoji: '🎉',
      userId: users[2].id,
    });
    expect((await ws.waitFor(of('message:deleted', group.id))).data).toMatchObject({
      messageId: id,
      scope: 'everyone',
    });
  }
  // Delete for me reaches only my own devices.
  const second = await sendText(api, a, group.id, 'keep for others');
  const other = await connectAs(server.url, b.accessToken);
  expect((await sockets[1]!.command('message:delete', { messageId: second.id, scope: 'me' })).ok).toBe(true);
  expect((await other.waitFor(of('message:deleted', group.id))).data).toMatchObject({
    messageId: second.id,
    scope: 'me',
  });
  await settle();
  expect(
    sockets[0]!.events.filter((f) => of('message:deleted')(f) && f.data.messageId === second.id),
  ).toEqual([]);
  await Promise.all([...sockets, other].map((ws) => ws.close()));
});

test('receipts: delivered when a device of the recipient got it, read when the position passes it', async () => {
  const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
  const chat = await openDirectChat(api, a, b);
  const wa = await connectAs(server.url, a.accessToken);
  const sent = await wa.command('message:send', {
    chatId: chat.id,
    clientMsgId: randomUUID(),
    body: 'hello',
  });
  const seq = sent.data.message.seq;
  // b is offline: nothing is delivered yet.
  await settle();
  expect(wa.events.filter(of('message:delivered', chat.id))).toEqual([]);
  // b's device acknowledges what it gets, as every client does.
  const wb = await connectAs(server.url, b.accessToken, { autoAck: true });
  // b's device catches up via REST (as after a resync): that counts as delivered.
  await api.get(`/api/chats/${chat.id}/messages`, { token: b.accessToken });
  const delivered = await wa.waitFor(of('message:delivered', chat.id));
  expect(delivered.data).toEqual({ chatId: chat.id, receipts: [{ userId: b.id, upToSeq: seq }] });
  // Live: a second message reaches b's socket, and b's device acknowledges it: delivered.
  const next = await wa.command('message:send', {
    chatId: chat.id,
    clientMsgId: randomUUID(),
    body: 'again',
  });
  await wa.waitFor((f) => receiptIn(f, chat.id, b.id) === next.data.message.seq);
  // Read.
  const read = await wb.command('chat:read', { chatId: chat.id, upToSeq: next.data.message.seq });
  expect(read.data).toMatchObject({ lastReadSeq: next.data.message.seq, unreadCount: 0 });
  expect((await wa.waitFor(of('message:read', chat.id))).data).toMatchObject({
    userId: b.id,
    upToSeq: next.data.message.seq,
  });
  const members = await api.get(`/api/chats/${chat.id}/members`, { token: a.accessToken });
  const bMember = members.body.members.find((m: any) => m.user.id === b.id);
  expect(bMember).toMatchObject({
    lastDeliveredSeq: next.data.message.seq,
    lastReadSeq: next.data.message.seq,
  });
  await wa.close();
  await wb.close();
});

test('group read receipts: "read by N of M" from member positions', async () => {
  const { users, group, sockets } = await trio();
  const [a, b, c] = users;
  const m = await sendText(api, a, group.id, 'who read this?');
  await sockets[1]!.command('chat:read', { chatId: group.id, upToSeq: m.seq });
  await sockets[0]!.waitFor((f) => of('message:read', group.id)(f) && f.data.userId === b.id);
  const members = (await api.get(`/api/chats/${group.id}/members`, { token: a.accessToken })).body.members;
  const readers = members.filter((x: any) => x.user.id !== a.id && x.lastReadSeq >= m.seq);
  expect(readers.map((x: any) => x.user.id)).toEqual([b.id]);
  expect(members.filter((x: any) => x.user.id !== a.id)).toHaveLength(2);
  expect(members.find((x: any) => x.user.id === c.id).lastReadSeq).toBeLessThan(m.seq);
  await Promise.all(sockets.map((ws) => ws.close()));
});

describe('typing', () => {
  // The server's typing state runs on the wall clock, so each test here sets its timeout
  // far from what it waits for: a long one where nothing may expire on its own, a short one
  // where expiring is the point.
  test('reaches the other members, is throttled, and ends at typing:stop or a send', async () => {
    const { users, group, sockets } = await trio();
    const [a, b] = users;
    const startOf = (userId: string) => (f: Frame) =>
      of('typing:start', group.id)(f) && f.data.userId === userId;
    const stopOf = (userId: string) => (f: Frame) =>
      of('typing:stop', group.id)(f) && f.data.userId === userId;
    // Five typing:start frames in a row, as a client sends them while someone types.
    const t0 = Date.now();
    const acks = await Promise.all(
      Array.from({ length: 5 }, () => sockets[0]!.command('typing:start', { chatId: group.id })),
    );
    const spanMs = Date.now() - t0;
    expect(acks.every((ack) => ack.ok)).toBe(true);
    const start = await sockets[1]!.waitFor(startOf(a.id));
    expect(start.data).toMatchObject({ userId: a.id, expiresInMs: TYPING_TIMEOUT_MS });
    // typing:stop ends it; once the others hear that, they have heard every start before it.
    expect((await sockets[0]!.command('typing:stop', { chatId: group.id })).ok).toBe(true);
    await sockets[2]!.waitFor(stopOf(a.id));
    // One event for all five, as the server announces at most once per throttle window (2 s
    // with this timeout). The frames went out together, so they normally fall in one window;
    // only a machine that took longer than that over them may see one more per window.
    const windows = Math.floor(spanMs / 2_000) + 1;
    const heard = sockets[2]!.events.filter(startOf(a.id)).length;
    expect(heard).toBeGreaterThanOrEqual(1);
    expect(heard).toBeLessThanOrEqual(windows);
    // The typer does not hear themselves: b's typing, started after all of a's, reaches a alone.
    await sockets[1]!.command('typing:start', { chatId: group.id });
    await sockets[0]!.waitFor(startOf(b.id));
    expect(sockets[0]!.events.filter(startOf(a.id))).toEqual([]);
    // Sending ends it too, long before it would expire.
    await sockets[0]!.command('typing:start', { chatId: group.id });
    await sockets[0]!.command('message:send', {
      chatId: group.id,
      clientMsgId: randomUUID(),
      body: 'done typing',
    });
    await sockets[2]!.waitForCount(stopOf(a.id), 2, TYPING_TIMEOUT_MS / 2);
    // Typing in a chat you are not in: 404, and nobody hears it.
    const stranger = await registerUser(api);
    const ws = await connectAs(server.url, stranger.accessToken);
    expect(await ws.command('typing:start', { chatId: group.id })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    await Promise.all([...sockets, ws].map((s) => s.close()));
  });

  describe('with a short timeout', () => {
    let quick: TestServer;
    let qapi: ReturnType<typeof client>;
    beforeAll(async () => {
      quick = await startTestServer({ TYPING_TIMEOUT_MS: '300' });
      qapi = client(quick.url);
    });
    afterAll(async () => {
      await quick.close();
    });

    test('typing expires by itself', async () => {
      const [a, b] = await Promise.all([registerUser(qapi), registerUser(qapi)]);
      const group = await createGroup(qapi, a, [b]);
      const [wa, wb] = await Promise.all([
        connectAs(quick.url, a.accessToken),
        connectAs(quick.url, b.accessToken),
      ]);
      expect((await wa.command('typing:start', { chatId: group.id })).ok).toBe(true);
      expect((await wb.waitFor(of('typing:start', group.id))).data).toMatchObject({
        userId: a.id,
        expiresInMs: 300,
      });
      // Nothing more from a: the state ends by itself.
      expect((await wb.waitFor(of('typing:stop', group.id))).data.userId).toBe(a.id);
      await Promise.all([wa.close(), wb.close()]);
    });
  });
});

test('presence goes to people who share a chat, with last seen on going offline', async () => {
  const [a, b, stranger] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
  await openDirectChat(api, a, b);
  const wa = await connectAs(server.url, a.accessToken);
  const ws = await connectAs(server.url, stranger.accessToken);
  const wb = await connectAs(server.url, b.accessToken);
  expect((await wa.waitFor(of('presence:online'))).data.userId).toBe(b.id);
  const second = await connectAs(server.url, b.accessToken);
  await second.close(); // b still has a socket: still online
  await settle();
  expect(wa.events.filter(of('presence:offline'))).toEqual([]);
  await wb.close();
  const offline = await wa.waitFor(of('presence:offline'));
  expect(offline.data.userId).toBe(b.id);
  expect(Date.parse(offline.data.lastSeenAt)).not.toBeNaN();
  expect(ws.events.filter((f) => f.type.startsWith('presence:'))).toEqual([]);
  await wa.close();
  await ws.close();
});

describe('membership and isolation', () => {
  test('a non-member hears nothing of a chat and gets 404 for its commands', async () => {
    const { users, group, sockets } = await trio();
    const stranger = await registerUser(api);
    const ws = await connectAs(server.url, stranger.accessToken);
    const m = await sendText(api, users[0], group.id, 'private');
    const probes = await Promise.all([
      ws.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: 'let me in' }),
      ws.command('message:edit', { messageId: m.id, body: 'mine now' }),
      ws.command('message:delete', { messageId: m.id, scope: 'everyone' }),
      ws.command('reaction:add', { messageId: m.id, emoji: '👀' }),
      ws.command('chat:read', { chatId: group.id, upToSeq: 5 }),
      ws.command('typing:start', { chatId: group.id }),
    ]);
    const unknown = await ws.command('message:edit', { messageId: randomUUID(), body: 'x' });
    for (const p of probes) expect(p.error).toEqual(unknown.error);
    expect(unknown.error?.code).toBe('NOT_FOUND');
    await sockets[1]!.command('typing:start', { chatId: group.id });
    await sockets[1]!.command('reaction:add', { messageId: m.id, emoji: '👍' });
    await settle();
    expect(ws.events.filter((f) => JSON.stringify(f.data).includes(group.id))).toEqual([]);
    await Promise.all([...sockets, ws].map((s) => s.close()));
  });

  test('removing a member stops their events for the chat at once', async () => {
    const { users, group, sockets } = await trio();
    const [owner, , removed] = users;
    const res = await api.del(`/api/chats/${group.id}/members/${removed.id}`, { token: owner.accessToken });
    expect(res.status).toBe(204);
    expect((await sockets[2]!.waitFor(of('chat:member_removed', group.id))).data.userId).toBe(removed.id);
    const count = sockets[2]!.events.length;
    await sendText(api, owner, group.id, 'after removal');
    await sockets[0]!.command('typing:start', { chatId: group.id });
    await sockets[1]!.waitFor(
      (f) => of('message:new', group.id)(f) && f.data.message.body === 'after removal',
    );
    await settle();
    expect(sockets[2]!.events.slice(count)).toEqual([]);
    // The others saw the system line.
    const line = await sockets[1]!.waitFor(
      (f) =>
        of('message:new', group.id)(f) &&
        f.data.message.kind === 'system' &&
        f.data.message.system.action === 'member_removed',
    );
    expect(line.data.message.system.userIds).toEqual([removed.id]);
    await Promise.all(sockets.map((s) => s.close()));
  });

  test('people added to a group get chat:created; the others get chat:member_added; renames reach all', async () => {
    const { users, group, sockets } = await trio();
    const newcomer = await registerUser(api);
    const wn = await connectAs(server.url, newcomer.accessToken);
    const add = await api.post(
      `/api/chats/${group.id}/members`,
      { userIds: [newcomer.id] },
      { token: users[0].accessToken },
    );
    expect(add.status).toBe(200);
    const created = await wn.waitFor(of('chat:created'));
    expect(created.data.chat).toMatchObject({
      id: group.id,
      myRole: 'member',
      unreadCount: 0,
      memberCount: 4,
    });
    expect((await sockets[1]!.waitFor(of('chat:member_added', group.id))).data.members[0].user.id).toBe(
      newcomer.id,
    );
    await api.put(`/api/chats/${group.id}`, { name: 'Renamed' }, { token: users[0].accessToken });
    for (const ws of [...sockets, wn])
      expect((await ws.waitFor(of('chat:updated'))).data.chat.name).toBe('Renamed');
    await Promise.all([...sockets, wn].map((s) => s.close()));
  });
});

test('state test: live events applied to a stale copy equal a fresh fetch', async () => {
  const { users, group, sockets } = await trio();
  const [a, , c] = users;
  for (let i = 0; i < 5; i++) await sendText(api, a, group.id, `base ${i}`);
  const token = { token: c.accessToken };
  const stale = (await api.get(`/api/chats/${group.id}/messages`, token)).body.messages as any[];
  const watcher = sockets[2]!;
  const from = watcher.events.length;

  // A mix of everything, from several users.
  const target = stale.find((m) => m.body === 'base 1');
  const victim = stale.find((m) => m.body === 'base 2');
  await sockets[0]!.command('message:edit', { messageId: target.id, body: 'base 1 (edited)' });
  await sockets[1]!.command('reaction:add', { messageId: target.id, emoji: '👍' });
  await sockets[0]!.command('reaction:add', { messageId: target.id, emoji: '👍' });
  await sockets[1]!.command('reaction:add', { messageId: victim.id, emoji: '😂' });
  await sockets[0]!.command('message:delete', { messageId: victim.id, scope: 'everyone' });
  await sockets[1]!.command('message:send', {
    chatId: group.id,
    clientMsgId: randomUUID(),
    body: 'a reply',
    replyTo: target.id,
  });
  await sockets[0]!.command('reaction:remove', { messageId: target.id, emoji: '👍' });
  await api.put(`/api/chats/${group.id}`, { name: 'State' }, { token: a.accessToken });
  await sockets[2]!.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: 'last' });
  await watcher.waitFor((f) => of('message:new', group.id)(f) && f.data.message.body === 'last');
  await settle();

  const state = new Map<string, any>(stale.map((m) => [m.id, structuredClone(m)]));
  for (const f of watcher.events.slice(from)) {
    const d = f.data;
    switch (f.type) {
      case 'message:new':
      case 'message:edited':
        state.set(d.message.id, d.message);
        break;
      case 'message:deleted': {
        const m = state.get(d.messageId);
        Object.assign(m, { body: '', reactions: [], deletedAt: 'set', version: d.version });
        break;
      }
      case 'reaction:added': {
        const m = state.get(d.messageId);
        const r = m.reactions.find((x: any) => x.emoji === d.emoji);
        if (r) r.userIds.push(d.userId);
        else m.reactions.push({ emoji: d.emoji, userIds: [d.userId] });
        m.version = d.version;
        break;
      }
      case 'reaction:removed': {
        const m = state.get(d.messageId);
        const r = m.reactions.find((x: any) => x.emoji === d.emoji);
        r.userIds = r.userIds.filter((u: string) => u !== d.userId);
        if (r.userIds.length === 0) m.reactions = m.reactions.filter((x: any) => x !== r);
        m.version = d.version;
        break;
      }
    }
  }
  const fresh = (await api.get(`/api/chats/${group.id}/messages`, token)).body.messages as any[];
  const normalise = (m: any) => ({ ...m, deletedAt: m.deletedAt ? 'set' : null });
  expect([...state.values()].sort((x, y) => x.seq - y.seq).map(normalise)).toEqual(fresh.map(normalise));
  // The reply's quote points at the edited original.
  expect(fresh.find((m) => m.body === 'a reply').replyTo).toMatchObject({ id: target.id, senderId: a.id });
  await Promise.all(sockets.map((s) => s.close()));
});

test('delivery receipts for several chats and members in one burst each reach the right chat', async () => {
  const [a, b, c] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
  const group = await createGroup(api, a, [b, c]);
  const direct = await openDirectChat(api, a, b);
  const [wa, wb, wc] = await Promise.all([
    connectAs(server.url, a.accessToken),
    connectAs(server.url, b.accessToken, { autoAck: true }),
    connectAs(server.url, c.accessToken, { autoAck: true }),
  ]);
  const sends = await Promise.all([
    ...Array.from({ length: 5 }, (_, n) =>
      wa.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: `g${n}` }),
    ),
    ...Array.from({ length: 5 }, (_, n) =>
      wa.command('message:send', { chatId: direct.id, clientMsgId: randomUUID(), body: `d${n}` }),
    ),
  ]);
  const lastSeq = (chatId: string) =>
    Math.max(...sends.filter((s) => s.data.message.chatId === chatId).map((s) => s.data.message.seq));
  const deliveredTo = (chatId: string, userId: string) => (f: Frame) =>
    receiptIn(f, chatId, userId) === lastSeq(chatId);
  await wa.waitFor(deliveredTo(group.id, b.id));
  await wa.waitFor(deliveredTo(group.id, c.id));
  await wa.waitFor(deliveredTo(direct.id, b.id));
  // c is not in the direct chat: it hears nothing about it. In the group, c sent nothing,
  // so receipts are not c's business; nor are b's own receipts b's.
  await settle();
  expect(wc.events.filter(of('message:delivered'))).toEqual([]);
  expect(wb.events.filter(of('message:delivered'))).toEqual([]);
  expect(wc.events.filter((f) => JSON.stringify(f.data).includes(direct.id))).toEqual([]);
  await Promise.all([wa, wb, wc].map((s) => s.close()));
});

/** The position a message:delivered frame reports for this chat and member, if any. */
function receiptIn(f: Frame, chatId: string, userId: string): number | undefined {
  if (f.type !== 'message:delivered' || f.data.chatId !== chatId) return undefined;
  return (f.data.receipts as { userId: string; upToSeq: number }[]).find((r) => r.userId === userId)?.upToSeq;
}
