/**
 * One WebSocket: its state (authenticated or not, inbox cursor), the order in which its
 * commands run (one at a time, in arrival order) and the order in which its events go
 * out (strictly by inbox position, read from the inbox, never skipped).
 */
import type { ErrorCode, ServerEvent } from '@parley/contracts';
import type { FastifyBaseLogger } from 'fastify';
import WebSocket from 'ws';
import type { AppContext } from '../app-context.js';
import { errorBody } from '../infra/errors.js';

/** Commands waiting behind a slow one; beyond this a client is flooding. */
const MAX_QUEUED_COMMANDS = 256;
/** Unsent bytes beyond this mean the client cannot keep up; it reconnects and resumes. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const READ_BATCH = 200;

export class Connection {
  userId: string | undefined;
  sessionId: string | undefined;
  /** Inbox position of the last event sent. */
  cursor = '';
  alive = true;
  private commands: Promise<void> = Promise.resolve();
  private queued = 0;
  private outbound: Promise<unknown> = Promise.resolve();
  private drainQueued = false;

  constructor(
    readonly socket: WebSocket,
    private readonly ctx: AppContext,
    readonly log: FastifyBaseLogger,
    private readonly onEventSent: () => void = () => undefined,
  ) {}

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: object, onWritten?: () => void): void {
    if (!this.open) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.socket.close(1013, 'Too far behind; reconnect and resume');
      return;
    }
    this.socket.send(JSON.stringify(frame), (err) => {
      if (!err) onWritten?.();
    });
  }

  ack(id: string | undefined, data: unknown): void {
    if (id !== undefined) this.send({ type: 'ack', id, ok: true, data });
  }

  fail(id: string | undefined, code: ErrorCode, message?: string, details?: unknown): void {
    const { error } = errorBody(code, message, details);
    this.send(id !== undefined ? { type: 'ack', id, ok: false, error } : { type: 'error', error });
  }

  /** Runs commands one at a time in arrival order. False when too many are waiting. */
  enqueue(task: () => Promise<void>): boolean {
    if (this.queued >= MAX_QUEUED_COMMANDS) return false;
    this.queued += 1;
    this.commands = this.commands.then(task).finally(() => {
      this.queued -= 1;
    });
    return true;
  }

  /** New entries in the user's inbox: send them, in order, after whatever is going out. */
  requestDrain(): void {
    if (this.drainQueued || !this.userId) return;
    this.drainQueued = true;
    this.outbound = this.outbound
      .then(() => {
        this.drainQueued = false;
        return this.drain();
      })
      .catch((err) => this.log.error({ err }, 'ws drain failed'));
  }

  /**
   * Replays everything after `position`. Runs in the outbound order, so live events and
   * the replay never interleave. Returns null when the position is gone.
   */
  resume(position: string): Promise<{ resumed: boolean; replayed: number }> {
    const run = this.outbound.then(async () => {
      const check = await this.ctx.inbox.readAfter(this.userId!, position, 0);
      if (!check.ok) {
        await this.resync(check.reason);
        return { resumed: false, replayed: 0 };
      }
      this.cursor = position;
      return { resumed: true, replayed: await this.drain() };
    });
    this.outbound = run.catch(() => undefined);
    return run;
  }

  /** Moment-only events carry the current position unchanged. */
  sendEphemeral(event: ServerEvent): void {
    this.send({ type: event.type, position: this.cursor, data: event.data });
  }

  private async drain(): Promise<number> {
    let sent = 0;
    const userId = this.userId!;
    for (;;) {
      if (!this.open) return sent;
      const read = await this.ctx.inbox.readAfter(userId, this.cursor, READ_BATCH);
      if (!read.ok) {
        // This device fell further behind than the inbox holds.
        await this.resync('overflow');
        return sent;
      }
      if (read.entries.length === 0) return sent;
      for (const { position, event } of read.entries) {
        this.cursor = position;
        sent += 1;
        const onWritten =
          event.type === 'message:new' && event.data.message.senderId !== userId
            ? () => this.ctx.deliveries.record(event.data.message.chatId, userId, event.data.message.seq)
            : undefined;
        this.send({ type: event.type, position, data: event.data }, onWritten);
        this.onEventSent();
      }
    }
  }

  private async resync(reason: 'position_unknown' | 'position_trimmed' | 'overflow'): Promise<void> {
    this.cursor = await this.ctx.inbox.head(this.userId!);
    this.send({ type: 'sync:resync', position: this.cursor, data: { reason } });
  }
}
