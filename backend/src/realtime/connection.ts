/**
 * One WebSocket: its state (authenticated or not, inbox cursor), the order in which its
 * commands run (one at a time, in arrival order) and the order in which its events go
 * out (strictly by inbox position, read from the inbox, never skipped).
 *
 * Fan-out is cheap: an event's data is serialised once for all its recipients (each frame
 * only adds its own position); a socket's frames of one event-loop turn leave in one write
 * (its TCP socket is corked at the first frame and uncorked after the turn: a send's ack
 * and its echo, or a drain of many events, are one system call).
 *
 * Delivery receipts wait for the device: a frame written to the socket may still be lost
 * (a half-open connection takes the write without complaint), so each batch of frames is
 * kept, with what it would record as delivered (once per chat), until the device says
 * `sync:ack` with the position of that batch or a later one (see `acknowledge`).
 */
import type { Socket } from 'node:net';
import type { ErrorCode, ServerEvent } from '@parley/contracts';
import type { FastifyBaseLogger } from 'fastify';
import WebSocket from 'ws';
import type { AppContext } from '../app-context.js';
import { errorBody } from '../infra/errors.js';
import type { DeliveryObserver, EventTiming } from '../infra/metrics.js';

/** Commands waiting behind a slow one; beyond this a client is flooding. */
const MAX_QUEUED_COMMANDS = 256;
/** Unsent bytes beyond this mean the client cannot keep up; it reconnects and resumes. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const READ_BATCH = 200;
/** Commit times of offered events kept until their frames go out (a device far behind drops the oldest). */
const MAX_PENDING_TIMINGS = 4096;
/**
 * Batches sent and not acknowledged yet, per socket. A device that never acknowledges (an
 * old client) costs this much at most: beyond it the oldest are dropped, not recorded. A
 * live device acknowledges a few times a second, far below it.
 */
export const MAX_UNACKED_BATCHES = 256;
/** A failed inbox read (Redis away) is tried again after this, doubling up to the max. */
const DRAIN_RETRY_MS = 250;
const DRAIN_RETRY_MAX_MS = 8_000;

const serialised = new WeakMap<object, string>();

/** An event's data as JSON, computed once per event object however many sockets it goes to. */
export function serialisedData(event: ServerEvent): string {
  let json = serialised.get(event);
  if (json === undefined) {
    json = JSON.stringify(event.data);
    serialised.set(event, json);
  }
  return json;
}

/** TCP sockets corked during this event-loop turn; uncorked together after it. */
const corked = new Set<Socket>();

const unobserved: DeliveryObserver = {
  sent: () => undefined,
  delivered: () => undefined,
  resync: () => undefined,
};

function uncorkAll() {
  for (const tcp of corked) tcp.uncork();
  corked.clear();
}

function corkForThisTurn(tcp: Socket | undefined) {
  if (!tcp || corked.has(tcp)) return;
  if (corked.size === 0) setImmediate(uncorkAll);
  tcp.cork();
  corked.add(tcp);
}

/** chatId → the highest seq of a batch's messages from others in that chat, and their senders. */
type Handed = Map<string, { seq: number; senders: Set<string> }>;

/** `{ type, position, data }` around data that is already JSON. */
function eventFrame(type: string, position: string, dataJson: string): string {
  return `{"type":${JSON.stringify(type)},"position":${JSON.stringify(position)},"data":${dataJson}}`;
}

export class Connection {
  userId: string | undefined;
  sessionId: string | undefined;
  /** Inbox position of the last event sent. */
  cursor = '';
  alive = true;
  /** Being sent away (the server drains): new frames are refused, queued ones answered. */
  closing = false;
  private commands: Promise<void> = Promise.resolve();
  private queued = 0;
  private outbound: Promise<unknown> = Promise.resolve();
  private outboundBusy = 0;
  private drainQueued = false;
  private drainRetryMs = 0;
  private drainRetry: NodeJS.Timeout | undefined;
  /** Inbox position → when its event committed and was published, until its frame is sent. */
  private readonly timings = new Map<string, EventTiming>();
  /**
   * Batches written and not acknowledged yet, oldest first from `unackedHead`, in two
   * parallel arrays (no object per batch): the position of each batch's last frame, and what
   * it records as delivered once acknowledged (undefined: nothing; such a batch is kept
   * only while older ones wait, so that an ack of its position covers them).
   */
  private readonly unackedPositions: (string | undefined)[] = [];
  private readonly unackedHanded: (Handed | undefined)[] = [];
  private unackedHead = 0;

  constructor(
    readonly socket: WebSocket,
    private readonly ctx: AppContext,
    readonly log: FastifyBaseLogger,
    private readonly observer: DeliveryObserver = unobserved,
  ) {}

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: object, onWritten?: () => void): void {
    this.sendText(JSON.stringify(frame), onWritten);
  }

  private sendText(text: string, onWritten?: () => void): void {
    if (!this.open) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.socket.close(1013, 'Too far behind; reconnect and resume');
      return;
    }
    corkForThisTurn(this.tcp);
    this.socket.send(
      text,
      onWritten &&
        ((err) => {
          if (!err) onWritten();
        }),
    );
  }

  /** The TCP socket under the WebSocket (ws keeps it as `_socket`), for corking. */
  private get tcp(): Socket | undefined {
    return (this.socket as unknown as { _socket?: Socket })._socket;
  }

  ack(id: string | undefined, data: unknown): void {
    if (id !== undefined) this.send({ type: 'ack', id, ok: true, data });
  }

  fail(id: string | undefined, code: ErrorCode, message?: string, details?: unknown): void {
    const { error } = errorBody(code, message, details);
    this.send(id !== undefined ? { type: 'ack', id, ok: false, error } : { type: 'error', error });
  }

  /** Settles when every command received so far has been answered. */
  get commandsAnswered(): Promise<void> {
    return this.commands.catch(() => undefined);
  }

  /** Frames received so far (queued or refused). */
  received = 0;

  /** Runs commands one at a time in arrival order. False when too many are waiting. */
  enqueue(task: () => Promise<void>): boolean {
    this.received += 1;
    if (this.queued >= MAX_QUEUED_COMMANDS) return false;
    this.queued += 1;
    this.commands = this.commands.then(task).finally(() => {
      this.queued -= 1;
    });
    return true;
  }

  /** Runs after whatever is going out; `outboundBusy` counts what is queued or running. */
  private chainOutbound<T>(task: () => Promise<T>): Promise<T> {
    this.outboundBusy += 1;
    const run = this.outbound.then(task).finally(() => {
      this.outboundBusy -= 1;
    });
    this.outbound = run.catch(() => undefined);
    return run;
  }

  /** New entries in the user's inbox: send them, in order, after whatever is going out. */
  requestDrain(): void {
    if (this.drainQueued || !this.userId) return;
    this.drainQueued = true;
    clearTimeout(this.drainRetry);
    this.drainRetry = undefined;
    void this.chainOutbound(() => {
      this.drainQueued = false;
      return this.drain();
    }).then(
      () => {
        this.drainRetryMs = 0;
      },
      (err) => {
        // The inbox could not be read (Redis away): events may be waiting that no wake-up
        // will announce again, so read again, later, until it works or the socket goes.
        this.drainRetryMs = Math.min(DRAIN_RETRY_MAX_MS, this.drainRetryMs * 2 || DRAIN_RETRY_MS);
        this.log.warn({ err, retryInMs: this.drainRetryMs }, 'ws drain failed');
        if (!this.open || this.drainRetry) return;
        this.drainRetry = setTimeout(() => {
          this.drainRetry = undefined;
          if (this.open) this.requestDrain();
        }, this.drainRetryMs);
        this.drainRetry.unref();
      },
    );
  }

  /**
   * An event just appended to the user's inbox at `position`, right after `after`. A device
   * exactly at `after`, with nothing else going out, gets it as it is: no read of the
   * inbox. Otherwise (behind, ahead, resuming, another epoch) it reads its inbox in order.
   */
  offer(event: ServerEvent, after: string, position: string, timing?: EventTiming): void {
    if (!this.userId) return;
    if (this.outboundBusy === 0 && this.cursor === after) {
      this.cursor = position;
      if (timing) this.timings.set(position, timing);
      this.sendEntries([{ position, event }]);
      return;
    }
    if (timing) {
      // Read back from the inbox in a moment: its frame is timed when it goes out.
      if (this.timings.size >= MAX_PENDING_TIMINGS) this.timings.delete(this.timings.keys().next().value!);
      this.timings.set(position, timing);
    }
    this.requestDrain();
  }

  /**
   * Replays everything after `position`. Runs in the outbound order, so live events and
   * the replay never interleave. Returns null when the position is gone.
   */
  resume(position: string): Promise<{ resumed: boolean; replayed: number }> {
    return this.chainOutbound(async () => {
      const check = await this.ctx.inbox.readAfter(this.userId!, position, 0);
      if (!check.ok) {
        await this.resync(check.reason);
        return { resumed: false, replayed: 0 };
      }
      this.cursor = position;
      return { resumed: true, replayed: await this.drain() };
    });
  }

  /** Moment-only events carry the current position unchanged. */
  sendEphemeral(event: ServerEvent): void {
    this.sendText(eventFrame(event.type, this.cursor, serialisedData(event)));
    this.observer.sent(event.type, 1);
  }

  private async drain(): Promise<number> {
    let sent = 0;
    const userId = this.userId!;
    for (;;) {
      if (!this.open) return sent;
      const read = await this.ctx.inbox.readAfter(userId, this.cursor, READ_BATCH);
      if (!read.ok) {
        // This device fell further behind than the inbox holds, or the inbox lost its events
        // (Redis restarted empty).
        await this.resync(read.reason === 'position_unknown' ? 'position_unknown' : 'overflow');
        return sent;
      }
      if (read.entries.length === 0) return sent;
      this.cursor = read.entries.at(-1)!.position;
      this.sendEntries(read.entries);
      sent += read.entries.length;
    }
  }

  /**
   * Frames for inbox entries, in order. Messages from others among them are noted once per
   * chat, under the position of the last frame, and recorded as delivered when the device
   * acknowledges that position (or a later one). The delivery times of committed events are
   * measured when the last frame is written (the frames of one call leave in one write):
   * they time the server's side, not the network.
   */
  private sendEntries(entries: readonly { position: string; event: ServerEvent }[]): void {
    const userId = this.userId!;
    let handed: Handed | undefined;
    let timed: { type: string; timing: EventTiming }[] | undefined;
    for (const { position, event } of entries) {
      this.observer.sent(event.type, 1);
      if (this.timings.size) {
        const timing = this.timings.get(position);
        if (timing) {
          this.timings.delete(position);
          (timed ??= []).push({ type: event.type, timing });
        }
      }
      if (event.type === 'message:new' && event.data.message.senderId !== userId) {
        const { chatId, seq, senderId } = event.data.message;
        handed ??= new Map();
        const chat = handed.get(chatId) ?? { seq, senders: new Set<string>() };
        chat.seq = Math.max(chat.seq, seq);
        if (senderId) chat.senders.add(senderId);
        handed.set(chatId, chat);
      }
    }
    const last = entries.length - 1;
    if (handed || this.unackedHead < this.unackedPositions.length) {
      this.awaitAck(entries[last]!.position, handed);
    }
    const written = timed
      ? () => {
          const now = Date.now();
          for (const { type, timing } of timed) this.observer.delivered(type, timing, now);
        }
      : undefined;
    entries.forEach(({ position, event }, i) => {
      this.sendText(
        eventFrame(event.type, position, serialisedData(event)),
        i === last ? written : undefined,
      );
    });
  }

  /** Keeps a batch until the device acknowledges it; the oldest goes, unrecorded, beyond the cap. */
  private awaitAck(position: string, handed: Handed | undefined): void {
    const positions = this.unackedPositions;
    if (positions.length - this.unackedHead >= MAX_UNACKED_BATCHES) {
      positions[this.unackedHead] = undefined;
      this.unackedHanded[this.unackedHead] = undefined;
      this.unackedHead += 1;
      this.compactUnacked();
    }
    positions.push(position);
    this.unackedHanded.push(handed);
  }

  /**
   * `sync:ack`: the device has processed every event up to `position`. The batches sent up
   * to the one that ended there are recorded as delivered, and forgotten. Positions are
   * opaque, so they are compared for equality only: a position this socket did not end a
   * batch with (another socket's, one acknowledged already, one in the middle of a batch)
   * changes nothing; the device's next ack covers it. O(batches acknowledged), plus a walk
   * of what is kept (at most MAX_UNACKED_BATCHES) when the position is not found.
   */
  acknowledge(position: string): void {
    const positions = this.unackedPositions;
    let end = positions.length - 1;
    // Usually the newest: the device is up to date.
    if (end < this.unackedHead || positions[end] !== position) {
      end = positions.indexOf(position, this.unackedHead);
      if (end < 0) return;
    }
    const userId = this.userId!;
    for (let i = this.unackedHead; i <= end; i++) {
      const handed = this.unackedHanded[i];
      if (handed) {
        for (const [chatId, { seq, senders }] of handed)
          this.ctx.deliveries.record(chatId, userId, seq, senders);
      }
      positions[i] = undefined;
      this.unackedHanded[i] = undefined;
    }
    this.unackedHead = end + 1;
    this.compactUnacked();
  }

  /** Drops the slots of batches already gone: all of them, or a cap's worth at once. */
  private compactUnacked(): void {
    if (this.unackedHead === this.unackedPositions.length) {
      this.unackedPositions.length = 0;
      this.unackedHanded.length = 0;
      this.unackedHead = 0;
    } else if (this.unackedHead >= MAX_UNACKED_BATCHES) {
      this.unackedPositions.splice(0, this.unackedHead);
      this.unackedHanded.splice(0, this.unackedHead);
      this.unackedHead = 0;
    }
  }

  private async resync(reason: 'position_unknown' | 'position_trimmed' | 'overflow'): Promise<void> {
    this.observer.resync(reason);
    this.timings.clear();
    this.cursor = await this.ctx.inbox.head(this.userId!);
    this.send({ type: 'sync:resync', position: this.cursor, data: { reason } });
  }
}
