/**
 * The messaging session end to end over a fake socket and a stubbed REST API: the first
 * load, live events, and the re-sync after the server lost the client's position.
 */
import type { Chat, Message } from '@parley/contracts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { useConnectionStore } from '../realtime/connection-store';
import { BOB, ME, at, chat, id, member, message, preview } from '../test/chat-fixtures';
import { FakeSocket } from '../test/fake-socket';
import { type StubRequest, stubNetwork, testUser } from '../test/stub-network';
import { sendMessage } from './actions';
import { useChatsStore } from './chats-store';
import { GAP_GRACE_MS } from './gap-filler';
import { useMessagesStore } from './messages-store';
import { resetUnseen } from './notifications';
import { startMessaging, stopMessaging } from './session';
import { loadLatest } from './sync';
import { WAIT } from '../test/wait';

const G = id('session team');
const SESSION = id('session id');

/** What the server holds; tests move it on. */
let server: { chat: Chat; messages: Message[] };
let requests: StubRequest[];
let chatListCalls = 0;
let gate: Promise<void> | null = null;

function pageAfter(after: number, limit: number) {
  const newer = server.messages.filter((m) => m.seq > after);
  return { messages: newer.slice(0, limit), hasMoreBefore: after > 0, hasMoreAfter: newer.length > limit };
}

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: SESSION });
  const ms = [message(G, 1, BOB, 'one'), message(G, 2, BOB, 'two'), message(G, 3, ME, 'three')];
  server = {
    chat: chat(G, {
      lastSeq: 3,
      version: 3,
      lastActivityAt: at(3),
      lastMessage: preview(ms[2]!),
      lastReadSeq: 3,
    }),
    messages: ms,
  };
  chatListCalls = 0;
  gate = null;
  const net = stubNetwork(async (req) => {
    const url = new URL(req.url, 'http://parley.test');
    const q = url.searchParams;
    if (url.pathname === '/api/chats/requests') return { status: 200, body: { chats: [] } };
    if (url.pathname === '/api/chats' && q.get('archived') === 'true')
      return { status: 200, body: { chats: [], nextCursor: null } };
    if (url.pathname === '/api/chats') {
      chatListCalls += 1;
      const body = { chats: [structuredClone(server.chat)], nextCursor: null }; // the state at request time
      if (gate) await gate;
      return { status: 200, body };
    }
    if (url.pathname === `/api/chats/${G}`) return { status: 200, body: structuredClone(server.chat) };
    if (url.pathname === `/api/chats/${G}/messages`) {
      const limit = Number(q.get('limit') ?? 50);
      if (q.has('after')) return { status: 200, body: pageAfter(Number(q.get('after')), limit) };
      return {
        status: 200,
        body: { messages: server.messages.slice(-limit), hasMoreBefore: false, hasMoreAfter: false },
      };
    }
    if (url.pathname === `/api/chats/${G}/changes`) {
      const since = Number(q.get('sinceVersion'));
      const changed = server.messages.filter((m) => m.version > 1 && since < server.chat.version);
      return { status: 200, body: { messages: changed, version: server.chat.version, hasMore: false } };
    }
    if (url.pathname === `/api/chats/${G}/members`) {
      return { status: 200, body: { members: [member(ME, 'owner', 3, 3, true), member(BOB, 'member', 2)] } };
    }
    return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'Not found.' } } };
  });
  requests = net.requests;
});
afterEach(() => {
  stopMessaging();
  vi.useRealTimers();
});

const seqs = () => {
  const cm = useMessagesStore.getState().byChat[G];
  return cm ? cm.order.map((mid) => cm.byId[mid]!.seq) : [];
};

async function authenticate(socket: FakeSocket, position: string) {
  socket.open();
  await expect.poll(() => socket.sent.length).toBeGreaterThan(0);
  socket.ack(socket.last('auth').id, { userId: ME, sessionId: SESSION, position });
}

describe('messaging session', () => {
  it('re-syncs from REST when the server lost the position: chats, messages after, changes since', async () => {
    startMessaging({ createSocket: (url) => new FakeSocket(url), random: () => 0 });
    await expect.poll(() => useChatsStore.getState().loaded).toBe(true);
    const first = FakeSocket.latest();
    expect(first.url).toBe(`ws://${location.host}/ws`);
    await authenticate(first, 'p1');
    await expect.poll(() => chatListCalls).toBe(2); // the first connection re-syncs once more
    await loadLatest(G);
    expect(seqs()).toEqual([1, 2, 3]);

    // A live message moves the position.
    const m4 = message(G, 4, BOB, 'four');
    server.messages.push(m4);
    server.chat = {
      ...server.chat,
      lastSeq: 4,
      lastActivityAt: at(4),
      lastMessage: preview(m4),
      unreadCount: 1,
    };
    first.push({ type: 'message:new', position: 'p2', data: { message: m4 } });
    expect(seqs()).toEqual([1, 2, 3, 4]);
    expect(useChatsStore.getState().chats[G]?.unreadCount).toBe(1);

    // Offline for a while: two messages and an edit happen meanwhile.
    first.drop();
    expect(useConnectionStore.getState().state).toBe('reconnecting');
    const m5 = message(G, 5, BOB, 'five');
    const m6 = message(G, 6, BOB, 'six');
    server.messages[1] = { ...server.messages[1]!, body: 'two (edited)', editedAt: at(7), version: 2 };
    server.messages.push(m5, m6);
    server.chat = {
      ...server.chat,
      lastSeq: 6,
      version: 4,
      lastActivityAt: at(6),
      lastMessage: preview(m6),
      unreadCount: 3,
    };

    await expect.poll(() => FakeSocket.instances.length, WAIT).toBe(2);
    const second = FakeSocket.latest();
    let release: () => void = () => {};
    gate = new Promise((r) => (release = r));
    await authenticate(second, 'p-new');
    await expect.poll(() => second.sent.some((f) => f.type === 'sync:resume')).toBe(true);
    expect(second.last('sync:resume').data).toEqual({ position: 'p2' });
    second.ack(second.last('sync:resume').id, { resumed: false, replayed: 0, position: 'p20' });
    second.push({ type: 'sync:resync', position: 'p20', data: { reason: 'position_unknown' } });

    // While the chat list is on its way, one more message arrives live: it waits for the re-sync.
    await expect.poll(() => chatListCalls).toBe(3);
    const m7 = message(G, 7, BOB, 'seven');
    server.messages.push(m7);
    second.push({ type: 'message:new', position: 'p21', data: { message: m7 } });
    release();

    await expect.poll(seqs).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await expect.poll(() => useChatsStore.getState().chats[G]?.lastSeq).toBe(7);
    const after = requests.map((r) => new URL(r.url, 'http://parley.test'));
    const messagesAfter = after.filter(
      (u) => u.pathname === `/api/chats/${G}/messages` && u.searchParams.has('after'),
    );
    expect(messagesAfter.map((u) => u.searchParams.get('after'))).toEqual(['4']);
    const changes = after.filter((u) => u.pathname === `/api/chats/${G}/changes`);
    expect(changes.map((u) => u.searchParams.get('sinceVersion'))).toEqual(['3']);

    const state = useChatsStore.getState().chats[G]!;
    expect(state.unreadCount).toBe(4); // three from the fresh list, one from the held event
    expect(useMessagesStore.getState().byChat[G]?.byId[server.messages[1]!.id]?.body).toBe('two (edited)');
    expect(chatListCalls).toBe(3); // the sync:resync after resumed:false asked for nothing more
    expect(useConnectionStore.getState().state).toBe('online');
  });

  it('fetches the messages a live message skipped over REST, and the chat with its unread count', async () => {
    startMessaging({ createSocket: (url) => new FakeSocket(url), random: () => 0 });
    await expect.poll(() => useChatsStore.getState().loaded).toBe(true);
    const socket = FakeSocket.latest();
    await authenticate(socket, 'p1');
    await expect.poll(() => chatListCalls).toBe(2);
    await loadLatest(G);
    vi.useFakeTimers();

    // Bob's 4 and 5 are committed; the event for 4 went astray (another node, a lost connection).
    const m4 = message(G, 4, BOB, 'four');
    const m5 = message(G, 5, BOB, 'five');
    server.messages.push(m4, m5);
    server.chat = {
      ...server.chat,
      lastSeq: 5,
      lastActivityAt: at(5),
      lastMessage: preview(m5),
      unreadCount: 2,
    };
    socket.push({ type: 'message:new', position: 'p2', data: { message: m5 } });
    expect(seqs()).toEqual([1, 2, 3, 5]);

    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS);
    await vi.waitFor(() => expect(seqs()).toEqual([1, 2, 3, 4, 5]), WAIT);
    await vi.waitFor(() => expect(useChatsStore.getState().chats[G]?.unreadCount).toBe(2), WAIT);
    const gapFetches = requests
      .map((r) => new URL(r.url, 'http://parley.test'))
      .filter((u) => u.pathname === `/api/chats/${G}/messages` && u.searchParams.has('after'));
    expect(gapFetches.map((u) => u.searchParams.get('after'))).toEqual(['3']);

    // The astray event turns up after all: nothing changes.
    socket.push({ type: 'message:new', position: 'p3', data: { message: m4 } });
    expect(seqs()).toEqual([1, 2, 3, 4, 5]);
    expect(useChatsStore.getState().chats[G]?.unreadCount).toBe(2);
  });

  it('fetches the messages my own send skipped once its answer shows them missing', async () => {
    startMessaging({ createSocket: (url) => new FakeSocket(url), random: () => 0 });
    await expect.poll(() => useChatsStore.getState().loaded).toBe(true);
    const socket = FakeSocket.latest();
    await authenticate(socket, 'p1');
    await expect.poll(() => chatListCalls).toBe(2);
    await loadLatest(G);
    vi.useFakeTimers();

    // Bob's 4 went astray; my message became 5.
    const m4 = message(G, 4, BOB, 'four');
    server.messages.push(m4);
    const clientMsgId = sendMessage(G, 'five', null);
    await vi.advanceTimersByTimeAsync(0);
    const send = socket.last('message:send');
    const m5 = message(G, 5, ME, 'five', { clientMsgId });
    server.messages.push(m5);
    socket.ack(send.id, { message: m5, duplicate: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(seqs()).toEqual([1, 2, 3, 5]);

    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS);
    await vi.waitFor(() => expect(seqs()).toEqual([1, 2, 3, 4, 5]), WAIT);
    expect(useMessagesStore.getState().byChat[G]?.pending).toEqual([]);
  });

  it('closes the socket and forgets every chat on stop (logout)', async () => {
    startMessaging({ createSocket: (url) => new FakeSocket(url) });
    await expect.poll(() => useChatsStore.getState().loaded).toBe(true);
    const socket = FakeSocket.latest();
    await authenticate(socket, 'p1');
    stopMessaging();
    expect(socket.readyState).toBe(3);
    expect(useChatsStore.getState().chats).toEqual({});
    expect(useConnectionStore.getState().state).toBe('idle');
  });

  it('a live message in a muted chat counts in the title only when it mentions me', async () => {
    server.chat = { ...server.chat, preferences: { archived: false, mutedUntil: 'forever', notify: 'all' } };
    startMessaging({ createSocket: (url) => new FakeSocket(url) });
    await expect.poll(() => useChatsStore.getState().loaded).toBe(true);
    const socket = FakeSocket.latest();
    await authenticate(socket, 'p1');
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    try {
      socket.push({ type: 'message:new', position: 'p2', data: { message: message(G, 4, BOB, 'lunch') } });
      await expect.poll(() => useChatsStore.getState().chats[G]?.lastSeq).toBe(4);
      expect(document.title).not.toMatch(/^\(/);
      socket.push({
        type: 'message:new',
        position: 'p3',
        data: { message: message(G, 5, BOB, '@ada look', { mentions: [ME] }) },
      });
      await expect.poll(() => document.title).toBe('(1) Parley');
    } finally {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      resetUnseen();
    }
  });
});
