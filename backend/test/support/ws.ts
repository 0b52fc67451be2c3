/**
 * A raw WebSocket client for tests: sends commands, awaits their acks, records every
 * event frame in arrival order, and waits for events by predicate.
 *
 * Delivery receipts need the device to acknowledge what it processed (`sync:ack`): a test
 * does it by hand (`ackUpTo`, `ackAll`), or opens the socket with `autoAck` to have it
 * acknowledge every event shortly after it arrives, as a real client does.
 *
 * Waits end when what they wait for arrives; their time limits are safety nets for a busy
 * machine (a hung test fails with a clear message before jest's own timeout), never an
 * expectation of speed.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

/** How long a command waits for its ack, and a wait for its events, unless told otherwise. */
export const WS_WAIT_MS = 60_000;

export interface Frame {
  type: string;
  id?: string;
  ok?: boolean;
  position?: string;
  data?: any;
  error?: { code: string; message: string; details?: unknown };
}

export interface WsClient {
  socket: WebSocket;
  /** Every non-ack frame received, in order. */
  events: Frame[];
  /** Sends a command and resolves with its ack frame. */
  command(type: string, data?: unknown, timeoutMs?: number): Promise<Frame>;
  /**
   * Acknowledges (sync:ack) every event up to `position`, with an id: resolves with the
   * server's ack, once the batches it covers are handed to the delivery recorder.
   */
  ackUpTo(position: string, timeoutMs?: number): Promise<Frame>;
  /** ackUpTo the position of the last event received. */
  ackAll(timeoutMs?: number): Promise<Frame>;
  /** Sends text as-is (no id bookkeeping). */
  sendRaw(text: string | Buffer): void;
  /** Resolves with the first event (already received or arriving) that matches. */
  waitFor(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Resolves when `count` events match. */
  waitForCount(match: (f: Frame) => boolean, count: number, timeoutMs?: number): Promise<Frame[]>;
  /**
   * Resolves when matching events carry `count` distinct keys (e.g. message ids: delivery
   * is at least once, and clients dedupe), with the first frame of each key in arrival order.
   */
  waitForDistinct(
    match: (f: Frame) => boolean,
    keyOf: (f: Frame) => string,
    count: number,
    timeoutMs?: number,
  ): Promise<Frame[]>;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export function wsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/ws`;
}

export interface WsOptions {
  headers?: Record<string, string>;
  /**
   * Acknowledge events like a device (sync:ack without an id, coalesced: once events stop
   * arriving for AUTO_ACK_MS), so delivery receipts follow without the test doing it.
   */
  autoAck?: boolean;
}

/** How long an autoAck client waits for more events before acknowledging. */
const AUTO_ACK_MS = 10;

export async function openWs(
  httpUrl: string,
  headers: Record<string, string> = {},
  options: Omit<WsOptions, 'headers'> = {},
): Promise<WsClient> {
  const socket = new WebSocket(wsUrl(httpUrl), { headers });
  const events: Frame[] = [];
  const pending = new Map<string, (f: Frame) => void>();
  const waiters = new Set<() => void>();
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  let autoAckTimer: NodeJS.Timeout | undefined;
  let autoAckPosition: string | undefined;
  const autoAck = (position: string) => {
    autoAckPosition = position;
    clearTimeout(autoAckTimer);
    autoAckTimer = setTimeout(() => {
      if (socket.readyState === WebSocket.OPEN)
        socket.send(JSON.stringify({ type: 'sync:ack', data: { position: autoAckPosition } }));
    }, AUTO_ACK_MS);
  };
  socket.on('close', (code, reason) => {
    clearTimeout(autoAckTimer);
    resolveClosed({ code, reason: reason.toString() });
  });
  socket.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as Frame;
    if (frame.type === 'ack' && frame.id && pending.has(frame.id)) {
      pending.get(frame.id)!(frame);
      pending.delete(frame.id);
      return;
    }
    events.push(frame);
    if (options.autoAck && frame.position) autoAck(frame.position);
    for (const wake of [...waiters]) wake();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused: ${res.statusCode}`)),
    );
  });

  /** Resolves with what `found` returns once it is defined, checked again at every new event. */
  const waitUntil = <T>(found: () => T | undefined, describe: () => string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const result = found();
        if (result === undefined) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(result);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });

  const waitForCount = (match: (f: Frame) => boolean, count: number, timeoutMs = WS_WAIT_MS) =>
    waitUntil(
      () => {
        const found = events.filter(match);
        return found.length >= count ? found : undefined;
      },
      () => `${count} events; have ${events.filter(match).length}`,
      timeoutMs,
    );

  const firstOfEachKey = (match: (f: Frame) => boolean, keyOf: (f: Frame) => string) => {
    const firsts = new Map<string, Frame>();
    for (const f of events) if (match(f) && !firsts.has(keyOf(f))) firsts.set(keyOf(f), f);
    return [...firsts.values()];
  };
  const waitForDistinct = (
    match: (f: Frame) => boolean,
    keyOf: (f: Frame) => string,
    count: number,
    timeoutMs = WS_WAIT_MS,
  ) =>
    waitUntil(
      () => {
        const found = firstOfEachKey(match, keyOf);
        return found.length >= count ? found : undefined;
      },
      () => `${count} distinct events; have ${firstOfEachKey(match, keyOf).length}`,
      timeoutMs,
    );

  const command = (type: string, data?: unknown, timeoutMs = WS_WAIT_MS) => {
    const id = randomUUID();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no ack for ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, (f) => {
        clearTimeout(timer);
        resolve(f);
      });
      socket.send(JSON.stringify({ type, id, data }));
    });
  };
  const ackUpTo = async (position: string, timeoutMs?: number) => {
    const ack = await command('sync:ack', { position }, timeoutMs);
    if (!ack.ok) throw new Error(`sync:ack refused: ${JSON.stringify(ack.error)}`);
    return ack;
  };

  return {
    socket,
    events,
    command,
    ackUpTo,
    ackAll(timeoutMs) {
      const position = lastPosition({ events } as WsClient, '');
      if (!position) return Promise.reject(new Error('ackAll: no event received yet'));
      return ackUpTo(position, timeoutMs);
    },
    sendRaw(text) {
      socket.send(text);
    },
    waitFor: async (match, timeoutMs) => (await waitForCount(match, 1, timeoutMs))[0]!,
    waitForCount,
    waitForDistinct,
    closed,
    async close() {
      if (socket.readyState === WebSocket.CLOSED) return;
      socket.close();
      await closed;
    },
  };
}

/** Opens a socket and authenticates it; fails the test if auth is refused. */
export async function connectAs(
  httpUrl: string,
  token: string,
  options: Omit<WsOptions, 'headers'> = {},
): Promise<WsClient & { position: string }> {
  const ws = await openWs(httpUrl, {}, options);
  const ack = await ws.command('auth', { token });
  if (!ack.ok) throw new Error(`auth refused: ${JSON.stringify(ack.error)}`);
  return Object.assign(ws, { position: ack.data.position as string });
}

/** The last inbox position among a client's events (what a device would store). */
export function lastPosition(ws: WsClient, fallback: string): string {
  for (let i = ws.events.length - 1; i >= 0; i--) {
    const p = ws.events[i]!.position;
    if (p) return p;
  }
  return fallback;
}
