/**
 * A raw WebSocket client for tests: sends commands, awaits their acks, records every
 * event frame in arrival order, and waits for events by predicate.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

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
  /** Sends text as-is (no id bookkeeping). */
  sendRaw(text: string | Buffer): void;
  /** Resolves with the first event (already received or arriving) that matches. */
  waitFor(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Resolves when `count` events match. */
  waitForCount(match: (f: Frame) => boolean, count: number, timeoutMs?: number): Promise<Frame[]>;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export function wsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/ws`;
}

export async function openWs(httpUrl: string, headers: Record<string, string> = {}): Promise<WsClient> {
  const socket = new WebSocket(wsUrl(httpUrl), { headers });
  const events: Frame[] = [];
  const pending = new Map<string, (f: Frame) => void>();
  const waiters = new Set<() => void>();
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  socket.on('close', (code, reason) => resolveClosed({ code, reason: reason.toString() }));
  socket.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as Frame;
    if (frame.type === 'ack' && frame.id && pending.has(frame.id)) {
      pending.get(frame.id)!(frame);
      pending.delete(frame.id);
      return;
    }
    events.push(frame);
    for (const wake of [...waiters]) wake();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused: ${res.statusCode}`)),
    );
  });

  const waitForCount = (match: (f: Frame) => boolean, count: number, timeoutMs = 10_000) =>
    new Promise<Frame[]>((resolve, reject) => {
      const check = () => {
        const found = events.filter(match);
        if (found.length >= count) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${count} events; have ${events.filter(match).length}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });

  return {
    socket,
    events,
    command(type, data, timeoutMs = 10_000) {
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
    },
    sendRaw(text) {
      socket.send(text);
    },
    waitFor: async (match, timeoutMs) => (await waitForCount(match, 1, timeoutMs))[0]!,
    waitForCount,
    closed,
    async close() {
      if (socket.readyState === WebSocket.CLOSED) return;
      socket.close();
      await closed;
    },
  };
}

/** Opens a socket and authenticates it; fails the test if auth is refused. */
export async function connectAs(httpUrl: string, token: string): Promise<WsClient & { position: string }> {
  const ws = await openWs(httpUrl);
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
