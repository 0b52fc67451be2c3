/**
 * A WebSocket stand-in for tests. The realtime client talks to it like a server: a test
 * opens it, reads the frames the client sent, answers acks and pushes events.
 */
import type { SocketLike } from '../realtime/realtime-client';

export class FakeSocket implements SocketLike {
  static instances: FakeSocket[] = [];
  readyState = 0;
  sent: { type: string; id?: string; data?: unknown }[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }

  static reset(): void {
    FakeSocket.instances = [];
  }
  static latest(): FakeSocket {
    const s = FakeSocket.instances.at(-1);
    if (!s) throw new Error('no socket was opened');
    return s;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('socket not open');
    this.sent.push(JSON.parse(data));
  }
  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code: 1000 });
  }

  /* --- the server's side --- */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  ack(id: string | undefined, data: unknown): void {
    this.push({ type: 'ack', id, ok: true, data });
  }
  refuse(id: string | undefined, code: string, message = code, details?: unknown): void {
    this.push({
      type: 'ack',
      id,
      ok: false,
      error: { code, message, ...(details === undefined ? {} : { details }) },
    });
  }
  /** The last frame the client sent of a type. */
  last(type: string) {
    const frame = [...this.sent].reverse().find((f) => f.type === type);
    if (!frame)
      throw new Error(`the client sent no ${type} frame (sent: ${this.sent.map((f) => f.type).join(', ')})`);
    return frame;
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

/** Stands in for the browser WebSocket in every test: never connects unless a test opens it. */
export class InertWebSocket extends FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
}
