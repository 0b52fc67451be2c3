/**
 * One socket's outbound side on its own: an inbox read that fails (Redis away) is tried
 * again until it works, so events no later wake-up announces still go out; and a lost
 * position is re-synced with the reason the inbox gave.
 */
import { describe, expect, it } from '@jest/globals';
import type { ServerEvent } from '@parley/contracts';
import type { FastifyBaseLogger } from 'fastify';
import WebSocket from 'ws';
import type { AppContext } from '../app-context.js';
import { createMemoryInbox, type Inbox } from '../infra/realtime/inbox.js';
import { waitUntil } from '../../test/support/wait.js';
import { Connection } from './connection.js';

/** What the socket was asked to send; always open, never behind. */
function fakeSocket() {
  const frames: { type: string; position: string; data: unknown }[] = [];
  const socket = {
    readyState: WebSocket.OPEN as number,
    bufferedAmount: 0,
    send(text: string, done?: (err?: Error) => void) {
      frames.push(JSON.parse(text));
      done?.();
    },
    close() {
      socket.readyState = WebSocket.CLOSED;
    },
  };
  return { socket, frames };
}

const quietLog = {
  warn: () => undefined,
  error: () => undefined,
  info: () => undefined,
} as unknown as FastifyBaseLogger;

const updated = (n: number): ServerEvent =>
  ({ type: 'chat:updated', data: { chat: { id: `chat-${n}` } } }) as unknown as ServerEvent;

function connectionOn(inbox: Inbox) {
  const { socket, frames } = fakeSocket();
  const ctx = { inbox, deliveries: { record: () => undefined } } as unknown as AppContext;
  const conn = new Connection(socket as unknown as WebSocket, ctx, quietLog);
  conn.userId = 'u1';
  return { conn, frames, socket };
}

describe('Connection', () => {
  it('reads its inbox again after a failed read, without another wake-up', async () => {
    const memory = createMemoryInbox(100);
    let failures = 2;
    const inbox: Inbox = {
      ...memory,
      readAfter: async (...args) => {
        if (failures > 0) {
          failures -= 1;
          throw new Error('Connection is closed.');
        }
        return memory.readAfter(...args);
      },
    };
    const { conn, frames } = connectionOn(inbox);
    conn.cursor = await memory.head('u1');
    await memory.append('u1', updated(1));
    await memory.append('u1', updated(2));

    conn.requestDrain(); // fails, and so does the first retry
    await waitUntil('both events to go out', () => frames.length >= 2, 30_000);
    expect(failures).toBe(0);
    expect(frames.map((f) => (f.data as { chat: { id: string } }).chat.id)).toEqual(['chat-1', 'chat-2']);
    expect(conn.cursor).toBe(await memory.head('u1'));
  });

  it('stops trying once its socket is closed', async () => {
    const memory = createMemoryInbox(100);
    let reads = 0;
    const inbox: Inbox = {
      ...memory,
      readAfter: async () => {
        reads += 1;
        throw new Error('Connection is closed.');
      },
    };
    const { conn, socket } = connectionOn(inbox);
    conn.cursor = await memory.head('u1');
    conn.requestDrain();
    await waitUntil('the first read', () => reads >= 1, 30_000);
    socket.close();
    const after = reads;
    // Past the first two retries (250 ms, then 500 ms).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(reads).toBeLessThanOrEqual(after + 1);
  });

  it('re-syncs a position the inbox no longer knows with reason position_unknown', async () => {
    const memory = createMemoryInbox(100);
    const { conn, frames } = connectionOn(memory);
    conn.cursor = 'gone.7';
    await memory.append('u1', updated(1));
    conn.requestDrain();
    await waitUntil('the resync', () => frames.length >= 1, 30_000);
    expect(frames).toEqual([
      { type: 'sync:resync', position: await memory.head('u1'), data: { reason: 'position_unknown' } },
    ]);
  });
});
