/**
 * Sending a message when the server is busy: SERVICE_UNAVAILABLE and RATE_LIMITED answers
 * send the same message again (same clientMsgId) after the wait they ask for, while it shows
 * as sending; other refusals fail at once. Over REST (no socket) and over the socket. Time
 * is fake: every wait is stepped through.
 */
import type { Message } from '@parley/contracts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { ME, chat, id, message } from '../test/chat-fixtures';
import { FakeSocket } from '../test/fake-socket';
import { type StubReply, type StubRequest, errorReply, stubNetwork, testUser } from '../test/stub-network';
import { SEND_RETRIES, sendMessage } from './actions';
import { useChatsStore } from './chats-store';
import { updateChatMessages, useMessagesStore, withPage } from './messages-store';
import { startMessaging, stopMessaging } from './session';

const C = id('busy chat');
const SESSION = id('busy session');
const BUSY = 'The server is busy. Try again in a moment.';

/** Answers for the next sends, used once each; then the message is stored. */
let sendReplies: StubReply[];
let requests: StubRequest[];

const busy = (retryAfterMs: number) => errorReply(503, 'SERVICE_UNAVAILABLE', BUSY, { retryAfterMs });
const posts = () => requests.filter((r) => r.method === 'POST' && r.url === `/api/chats/${C}/messages`);
const pendingOf = () => useMessagesStore.getState().byChat[C]?.pending ?? [];
const storedOf = () => {
  const cm = useMessagesStore.getState().byChat[C];
  return cm ? cm.order.map((mid) => cm.byId[mid]!) : [];
};

function stored(clientMsgId: string, body: string): Message {
  return message(C, 2, ME, body, { clientMsgId });
}

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: SESSION });
  sendReplies = [];
  const net = stubNetwork((req) => {
    const url = new URL(req.url, 'http://parley.test');
    if (req.method === 'POST' && url.pathname === `/api/chats/${C}/messages`) {
      const reply = sendReplies.shift();
      if (reply) return reply;
      const body = req.body as { clientMsgId: string; body: string };
      return { status: 201, body: stored(body.clientMsgId, body.body) };
    }
    if (url.pathname === '/api/chats/requests') return { status: 200, body: { chats: [] } };
    if (url.pathname === '/api/chats') {
      const archived = url.searchParams.get('archived') === 'true';
      return { status: 200, body: { chats: archived ? [] : [chat(C, { lastSeq: 1 })], nextCursor: null } };
    }
    return errorReply(404, 'NOT_FOUND', 'Not found.');
  });
  requests = net.requests;
  useChatsStore.getState().setAll([chat(C, { lastSeq: 1 })]);
  updateChatMessages(C, (cm) =>
    withPage(
      cm,
      { messages: [message(C, 1, ME, 'first')], hasMoreBefore: false, hasMoreAfter: false },
      'replace',
    ),
  );
});

afterEach(() => {
  stopMessaging();
  vi.useRealTimers();
});

describe('sending to a busy server', () => {
  it('sends the same message again after the wait the server asks for, showing it as sending meanwhile', async () => {
    vi.useFakeTimers();
    sendReplies = [busy(2_000)];
    const clientMsgId = sendMessage(C, 'patience', null);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(posts()).toHaveLength(1);
    expect(pendingOf()).toMatchObject([{ clientMsgId, status: 'pending', error: null }]);

    await vi.advanceTimersByTimeAsync(1);
    expect(posts()).toHaveLength(2);
    expect(posts().map((p) => (p.body as { clientMsgId: string }).clientMsgId)).toEqual([
      clientMsgId,
      clientMsgId,
    ]);
    expect(pendingOf()).toEqual([]);
    expect(storedOf().map((m) => [m.seq, m.clientMsgId])).toEqual([
      [1, expect.any(String)],
      [2, clientMsgId],
    ]);
  });

  it('keeps the wait between 250 ms and 30 s, for RATE_LIMITED too', async () => {
    vi.useFakeTimers();
    sendReplies = [
      errorReply(429, 'RATE_LIMITED', 'Too many requests. Slow down.', { retryAfterMs: 5 }),
      busy(10 * 60_000),
    ];
    sendMessage(C, 'steady', null);
    await vi.advanceTimersByTimeAsync(249);
    expect(posts()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(posts()).toHaveLength(2);

    await vi.advanceTimersByTimeAsync(30_000 - 1);
    expect(posts()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(posts()).toHaveLength(3);
    expect(pendingOf()).toEqual([]);
  });

  it('shows the message as failed, with the server’s words, once the retries are used up', async () => {
    vi.useFakeTimers();
    sendReplies = Array.from({ length: SEND_RETRIES + 1 }, () => busy(1_000));
    const clientMsgId = sendMessage(C, 'too busy', null);
    for (let i = 0; i < SEND_RETRIES; i++) {
      expect(pendingOf()[0]?.status).toBe('pending');
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(posts()).toHaveLength(SEND_RETRIES + 1);
    expect(pendingOf()).toMatchObject([
      { clientMsgId, status: 'failed', error: BUSY, errorCode: 'SERVICE_UNAVAILABLE' },
    ]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(posts()).toHaveLength(SEND_RETRIES + 1); // no more by itself: the Retry button is the user's
  });

  it('fails at once on a refusal that waiting does not change', async () => {
    vi.useFakeTimers();
    sendReplies = [errorReply(403, 'FORBIDDEN', 'You are not allowed to do that.', { retryAfterMs: 1_000 })];
    const clientMsgId = sendMessage(C, 'not allowed', null);
    await vi.advanceTimersByTimeAsync(0);
    expect(pendingOf()).toMatchObject([{ clientMsgId, status: 'failed', errorCode: 'FORBIDDEN' }]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(posts()).toHaveLength(1);
  });

  it('retries a send the socket refused as busy, over the socket with the same clientMsgId', async () => {
    startMessaging({ createSocket: (url) => new FakeSocket(url), random: () => 0 });
    const socket = FakeSocket.latest();
    socket.open();
    await expect.poll(() => socket.sent.length).toBeGreaterThan(0);
    socket.ack(socket.last('auth').id, { userId: ME, sessionId: SESSION, position: 'p1' });
    await expect.poll(() => useChatsStore.getState().loaded).toBe(true);
    updateChatMessages(C, (cm) =>
      withPage(
        cm,
        { messages: [message(C, 1, ME, 'first')], hasMoreBefore: false, hasMoreAfter: false },
        'replace',
      ),
    );
    vi.useFakeTimers();

    const clientMsgId = sendMessage(C, 'over the socket', null);
    const sends = () => socket.sent.filter((f) => f.type === 'message:send');
    await vi.advanceTimersByTimeAsync(0);
    expect(sends()).toHaveLength(1);
    socket.refuse(sends()[0]!.id, 'SERVICE_UNAVAILABLE', BUSY, { retryAfterMs: 1_500 });
    await vi.advanceTimersByTimeAsync(1_499);
    expect(sends()).toHaveLength(1);
    expect(pendingOf()[0]?.status).toBe('pending');

    await vi.advanceTimersByTimeAsync(1);
    expect(sends()).toHaveLength(2);
    expect(sends().map((f) => (f.data as { clientMsgId: string }).clientMsgId)).toEqual([
      clientMsgId,
      clientMsgId,
    ]);
    socket.ack(sends()[1]!.id, { message: stored(clientMsgId, 'over the socket'), duplicate: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(pendingOf()).toEqual([]);
    expect(storedOf().map((m) => m.clientMsgId)).toContain(clientMsgId);
    expect(posts()).toEqual([]); // the socket carried both: REST was never needed
  });
});
