import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BOB, ME, id, message } from '../test/chat-fixtures';
import { FakeSocket } from '../test/fake-socket';
import { type ConnectionState, RealtimeClient, RealtimeError, backoffDelay } from './realtime-client';
import { WAIT } from '../test/wait';

const SESSION = id('session');

function makeClient(overrides: Partial<ConstructorParameters<typeof RealtimeClient>[0]> = {}) {
  const calls = {
    events: [] as string[],
    resyncs: [] as string[],
    states: [] as ConnectionState[],
  };
  const refreshToken = vi.fn(async () => 'fresh-token');
  const client = new RealtimeClient({
    url: 'ws://parley.test/ws',
    createSocket: (url) => new FakeSocket(url),
    getToken: () => 'token-1',
    refreshToken,
    onEvent: (e) => calls.events.push(e.type),
    onResync: (reason) => calls.resyncs.push(reason),
    onStateChange: (s) => calls.states.push(s),
    random: () => 1, // no jitter: delays are exactly 0.5 s, 1 s, 2 s…
    ...overrides,
  });
  return { client, calls, refreshToken };
}

/** Opens the latest socket and answers its auth frame. */
async function connect(position: string): Promise<FakeSocket> {
  const socket = FakeSocket.latest();
  socket.open();
  await vi.waitFor(() => socket.last('auth'), WAIT);
  socket.ack(socket.last('auth').id, { userId: ME, sessionId: SESSION, position });
  await Promise.resolve();
  return socket;
}

const newMessage = (seq: number, position: string) => ({
  type: 'message:new',
  position,
  data: { message: message(id('c'), seq, BOB, `m${seq}`) },
});

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RealtimeClient', () => {
  it('authenticates in the first frame and keeps the position of the last event', async () => {
    const { client, calls } = makeClient();
    client.start();
    const socket = FakeSocket.latest();
    expect(socket.url).toBe('ws://parley.test/ws');
    socket.open();
    expect(socket.sent[0]).toEqual({ type: 'auth', id: expect.any(String), data: { token: 'token-1' } });

    socket.ack(socket.sent[0]!.id, { userId: ME, sessionId: SESSION, position: '10' });
    await vi.waitFor(() => expect(client.isReady).toBe(true), WAIT);
    expect(calls.resyncs).toEqual(['first_connection']);
    expect(client.position).toBe('10');

    socket.push(newMessage(1, '11'));
    socket.push({
      type: 'typing:start',
      position: '11',
      data: { chatId: id('c'), userId: BOB, expiresInMs: 6000 },
    });
    socket.push({ type: 'message:new', position: '12', data: { message: { nonsense: true } } }); // invalid: skipped
    expect(calls.events).toEqual(['message:new', 'typing:start']);
    expect(client.position).toBe('12');
    expect(calls.states).toEqual(['connecting', 'online']);
    client.stop();
  });

  it('reconnects with backoff and resumes from the last position it processed', async () => {
    const { client, calls } = makeClient();
    client.start();
    const first = await connect('10');
    first.push(newMessage(1, '11'));
    first.push(newMessage(2, '12'));

    first.drop();
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.instances).toHaveLength(2);

    // The new socket fails before authenticating: the next delay doubles.
    FakeSocket.latest().drop();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.instances).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.instances).toHaveLength(3);

    const third = await connect('12');
    expect(third.sent.map((f) => f.type)).toEqual(['auth', 'sync:resume']);
    expect(third.last('sync:resume').data).toEqual({ position: '12' });
    third.ack(third.last('sync:resume').id, { resumed: true, replayed: 0, position: '12' });
    await vi.waitFor(() => expect(client.state).toBe('online'), WAIT);
    expect(calls.resyncs).toEqual(['first_connection']); // resumed: nothing to re-fetch

    // Back online: the delay starts again at 0.5 s.
    third.drop();
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.instances).toHaveLength(4);
    client.stop();
  });

  it('when the browser goes offline, the socket is given up at once: reconnecting, commands fail', async () => {
    const { client } = makeClient();
    client.start();
    const socket = await connect('10');
    await vi.waitFor(() => expect(client.state).toBe('online'), WAIT);
    const pending = client.request('typing:start', { chatId: id('c') }).catch((e: unknown) => e);
    window.dispatchEvent(new Event('offline'));
    expect(client.state).toBe('reconnecting');
    expect(socket.readyState).toBe(3);
    expect(await pending).toMatchObject({ code: 'DISCONNECTED' });
    // Back online: it connects again without waiting for the backoff.
    window.dispatchEvent(new Event('online'));
    expect(FakeSocket.instances).toHaveLength(2);
    client.stop();
  });

  it('re-syncs once when the server no longer has the position', async () => {
    const { client, calls } = makeClient();
    client.start();
    (await connect('10')).drop();
    await vi.advanceTimersByTimeAsync(500);
    const socket = await connect('900');
    socket.ack(socket.last('sync:resume').id, { resumed: false, replayed: 0, position: '900' });
    await vi.waitFor(() => expect(calls.resyncs).toEqual(['first_connection', 'position_unknown']), WAIT);
    socket.push({ type: 'sync:resync', position: '900', data: { reason: 'position_unknown' } });
    expect(calls.resyncs).toEqual(['first_connection', 'position_unknown']);
    expect(client.position).toBe('900');
    // A later resync (the device fell behind) is news again.
    socket.push({ type: 'sync:resync', position: '950', data: { reason: 'overflow' } });
    expect(calls.resyncs).toEqual(['first_connection', 'position_unknown', 'overflow']);
    client.stop();
  });

  it('re-syncs once when the sync:resync event is handled before the resume ack', async () => {
    const { client, calls } = makeClient();
    client.start();
    (await connect('10')).drop();
    await vi.advanceTimersByTimeAsync(500);
    const socket = await connect('900');
    // Both frames in one go: the event is handled before the ack's continuation runs.
    socket.ack(socket.last('sync:resume').id, { resumed: false, replayed: 0, position: '900' });
    socket.push({ type: 'sync:resync', position: '900', data: { reason: 'position_trimmed' } });
    await vi.waitFor(() => expect(client.isReady).toBe(true), WAIT);
    await vi.advanceTimersByTimeAsync(10);
    expect(calls.resyncs).toEqual(['first_connection', 'position_trimmed']);
    client.stop();
  });

  it('refreshes the token once when auth says TOKEN_INVALID, on the same socket', async () => {
    const { client, refreshToken } = makeClient();
    client.start();
    const socket = FakeSocket.latest();
    socket.open();
    socket.refuse(socket.last('auth').id, 'TOKEN_INVALID');
    await vi.waitFor(() => expect(socket.sent.filter((f) => f.type === 'auth')).toHaveLength(2), WAIT);
    expect(refreshToken).toHaveBeenCalledTimes(1);
    expect(socket.last('auth').data).toEqual({ token: 'fresh-token' });
    socket.ack(socket.last('auth').id, { userId: ME, sessionId: SESSION, position: '1' });
    await vi.waitFor(() => expect(client.isReady).toBe(true), WAIT);
    expect(FakeSocket.instances).toHaveLength(1);
    client.stop();
  });

  it('stops for good when no token can be had (signed out)', async () => {
    const onAuthFailed = vi.fn();
    const { client } = makeClient({ refreshToken: async () => null, onAuthFailed });
    client.start();
    const socket = FakeSocket.latest();
    socket.open();
    socket.refuse(socket.last('auth').id, 'TOKEN_INVALID');
    await vi.waitFor(() => expect(onAuthFailed).toHaveBeenCalled(), WAIT);
    expect(client.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('resolves a command with its ack, and rejects it on error, timeout or disconnect', async () => {
    const { client } = makeClient({ ackTimeoutMs: 1_000 });
    client.start();
    const socket = await connect('1');

    const read = client.request('chat:read', { chatId: id('c'), upToSeq: 3 });
    const frame = socket.last('chat:read');
    socket.ack(frame.id, { chatId: id('c'), lastReadSeq: 3, unreadCount: 0 });
    await expect(read).resolves.toEqual({ chatId: id('c'), lastReadSeq: 3, unreadCount: 0 });

    const refused = client.request('typing:start', { chatId: id('c') });
    socket.refuse(socket.last('typing:start').id, 'RATE_LIMITED', 'Too many requests.');
    await expect(refused).rejects.toMatchObject({ code: 'RATE_LIMITED', isTransport: false });

    const slow = client.request('typing:stop', { chatId: id('c') });
    const slowResult = expect(slow).rejects.toMatchObject({ code: 'TIMEOUT', isTransport: true });
    await vi.advanceTimersByTimeAsync(1_000);
    await slowResult;

    const cut = client.request('typing:stop', { chatId: id('c') });
    socket.drop();
    await expect(cut).rejects.toBeInstanceOf(RealtimeError);
    await expect(client.request('typing:stop', { chatId: id('c') })).rejects.toMatchObject({
      code: 'NOT_CONNECTED',
    });
    client.stop();
  });

  it('acknowledges the last position it processed once events are applied, coalesced', async () => {
    const applied: string[] = [];
    const { client } = makeClient({
      onEvent: (e) => applied.push(e.type === 'message:new' ? `m${e.data.message.seq}` : e.type),
    });
    client.start();
    const socket = await connect('10');
    const acks = () => socket.sent.filter((f) => f.type === 'sync:ack');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(acks()).toEqual([]); // nothing received: nothing to acknowledge

    // Frames that arrive together: one ack, of the last, after they were handed on.
    socket.push(newMessage(1, '11'));
    socket.push(newMessage(2, '12'));
    expect(acks()).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    expect(applied).toEqual(['m1', 'm2']);
    expect(acks()).toEqual([{ type: 'sync:ack', data: { position: '12' } }]); // no id: no answer

    // A steady stream (one every 10 ms for a second): a few acks, not one per frame...
    for (let n = 3; n < 103; n++) {
      socket.push(newMessage(n, String(10 + n)));
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(acks().length).toBeGreaterThan(1);
    expect(acks().length).toBeLessThanOrEqual(1 + 1_000 / 100);
    // ...and the last one promptly after the stream stops.
    await vi.advanceTimersByTimeAsync(200);
    expect(acks().at(-1)).toEqual({ type: 'sync:ack', data: { position: '112' } });
    const count = acks().length;
    // Ephemeral events keep the position: nothing new to acknowledge.
    socket.push({ type: 'typing:stop', position: '112', data: { chatId: id('c'), userId: BOB } });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(acks()).toHaveLength(count);
    client.stop();
  });

  it('acknowledges a resume replay on the new socket, and nothing on a socket that closed', async () => {
    const { client } = makeClient();
    client.start();
    const first = await connect('10');
    first.push(newMessage(1, '11'));
    first.drop(); // before the ack was due: it is never sent on a closed socket
    await vi.advanceTimersByTimeAsync(500);
    expect(first.sent.filter((f) => f.type === 'sync:ack')).toEqual([]);

    const second = await connect('11');
    expect(second.last('sync:resume').data).toEqual({ position: '11' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(second.sent.filter((f) => f.type === 'sync:ack')).toEqual([]); // 11 was the other socket's
    // The replay comes before the resume ack, on an authenticated socket: acknowledged.
    second.push(newMessage(2, '12'));
    second.push(newMessage(3, '13'));
    second.ack(second.last('sync:resume').id, { resumed: true, replayed: 2, position: '13' });
    await vi.advanceTimersByTimeAsync(200);
    expect(second.sent.filter((f) => f.type === 'sync:ack')).toEqual([
      { type: 'sync:ack', data: { position: '13' } },
    ]);
    client.stop();
  });

  it('closes on stop and does not come back', async () => {
    const { client } = makeClient();
    client.start();
    const socket = await connect('1');
    client.stop();
    expect(socket.readyState).toBe(3);
    expect(client.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });
});

describe('backoffDelay', () => {
  it('doubles from 0.5 s up to 10 s, with jitter down to half', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, () => 1))).toEqual([
      500, 1000, 2000, 4000, 8000, 10000, 10000,
    ]);
    expect(backoffDelay(3, () => 0)).toBe(2000);
  });
});
