/**
 * The bus between nodes over Redis pub/sub: every node publishes to one channel and
 * subscribes to it (the scaled-out twin of the in-process bus in bus.ts).
 *
 * - A node's own messages reach its own handlers at once, inside `publish`, as with the
 *   in-process bus, not when Redis echoes them back: code that publishes an `invalidate`
 *   and then reads the node's cache relies on that (the relay does). The echo is
 *   recognised by the node's random origin id and skipped.
 * - Frames are JSON `{ from, message }`. Id lists are sent in parts of at most 1,000 ids, so
 *   a message to a big group is a few small frames (handlers see the ids split over several
 *   messages of the same kind; this node's own handlers get the message whole).
 * - Whatever arrives is checked before any handler sees it: a frame over
 *   `maxMessageBytes`, not JSON, or not a bus message (ephemeral events are checked against
 *   the contract) is dropped and reported to `onError`. A handler that throws (or whose
 *   promise rejects) is reported too; the other handlers and the subscription go on.
 * - Pub/sub is at most once: what is published while a node's subscriber connection is
 *   down does not reach it. After a reconnect the channel is subscribed again, and the
 *   `onResubscribed` handlers run once Redis has confirmed it (ioredis's `ready` comes
 *   before that): from then on nothing is missed, so that is when to catch up on what may
 *   have been.
 *
 * `pub` and `sub` stay the caller's: `sub` is in subscriber mode from here on, and `close()`
 * unsubscribes without closing either connection.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseEvent } from '@parley/contracts';
import type { BusMessage, EventBus } from './bus.js';

export interface RedisBusOptions {
  channel: string;
  /** Bigger frames are dropped on arrival, and a publish that would need one fails. */
  maxMessageBytes?: number;
  /** Dropped frames and handler errors (the caller logs them). */
  onError?: (err: unknown) => void;
}

export type RedisBus = EventBus & {
  /** Resolves once this node's subscription is live (messages published before may miss it). */
  ready(): Promise<void>;
  /** Runs `handler` each time the subscription is live again after a reconnect. */
  onResubscribed(handler: () => void): () => void;
  close(): Promise<void>;
};

const DEFAULT_MAX_BYTES = 1 << 20;
const IDS_PER_MESSAGE = 1000;

type Handler = (message: BusMessage) => void;

export function createRedisBus(pub: Redis, sub: Redis, opts: RedisBusOptions): RedisBus {
  const origin = randomBytes(8).toString('hex');
  const channel = Buffer.from(opts.channel);
  const maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_BYTES;
  const handlers = new Set<Handler>();
  let closed = false;

  const report = (err: unknown) => {
    try {
      opts.onError?.(err);
    } catch {
      // A failing error reporter must not take the subscription down either.
    }
  };

  function deliver(message: BusMessage) {
    for (const handler of handlers) {
      try {
        const result: unknown = handler(message);
        if (result instanceof Promise) result.catch(report);
      } catch (err) {
        report(err);
      }
    }
  }

  function onFrame(from: Buffer, frame: Buffer) {
    if (!from.equals(channel)) return;
    if (frame.length > maxBytes) {
      report(new Error(`Bus frame of ${frame.length} bytes dropped (limit ${maxBytes}).`));
      return;
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(frame.toString('utf8'));
    } catch {
      report(new Error('Bus frame dropped: not JSON.'));
      return;
    }
    if (isRecord(envelope) && envelope.from === origin) return; // delivered in publish()
    const message = isRecord(envelope) ? parseBusMessage(envelope.message) : null;
    if (!message) {
      report(new Error('Bus frame dropped: not a bus message.'));
      return;
    }
    deliver(message);
  }

  sub.on('messageBuffer', onFrame);
  let live = false;
  const subscribed = sub.subscribe(opts.channel).then(() => {
    live = true;
  });
  subscribed.catch(report);

  const resubscribed = new Set<() => void>();
  // ioredis emits 'ready' on a reconnect with its own SUBSCRIBE sent but not answered; ours
  // is answered once the channel is live (subscribing twice to one channel is harmless).
  function onReady() {
    if (closed || !live) return;
    sub.subscribe(opts.channel).then(() => {
      if (closed) return;
      for (const handler of resubscribed) {
        try {
          handler();
        } catch (err) {
          report(err);
        }
      }
    }, report);
  }
  sub.on('ready', onReady);

  return {
    async publish(message) {
      const encode = (m: BusMessage) =>
        split(m).map((part) => JSON.stringify({ from: origin, message: part }));
      let frames = encode(message);
      // An inbox message too big with its event (a long text) goes as a bare wake-up:
      // devices then read the event from their inboxes.
      if (message.kind === 'inbox' && message.event && frames.some((f) => Buffer.byteLength(f) > maxBytes))
        frames = encode({ kind: 'inbox', userIds: message.userIds });
      for (const frame of frames) {
        const bytes = Buffer.byteLength(frame);
        if (bytes > maxBytes) throw new RangeError(`Bus message of ${bytes} bytes (limit ${maxBytes}).`);
      }
      deliver(message);
      await Promise.all(frames.map((frame) => pub.publish(opts.channel, frame)));
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    ready: () => subscribed,
    onResubscribed(handler) {
      resubscribed.add(handler);
      return () => resubscribed.delete(handler);
    },
    async close() {
      if (closed) return;
      closed = true;
      handlers.clear();
      resubscribed.clear();
      sub.off('messageBuffer', onFrame);
      sub.off('ready', onReady);
      if (sub.status === 'ready') await sub.unsubscribe(opts.channel).catch(report);
    },
  };
}

function chunks<T>(items: readonly T[]): T[][] {
  if (items.length <= IDS_PER_MESSAGE) return [[...items]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IDS_PER_MESSAGE) out.push(items.slice(i, i + IDS_PER_MESSAGE));
  return out;
}

/** The same message as frames of at most IDS_PER_MESSAGE ids each. */
function split(message: BusMessage): BusMessage[] {
  switch (message.kind) {
    case 'inbox': {
      const { event, appended, timing } = message;
      if (!event || !appended) return chunks(message.userIds).map((userIds) => ({ kind: 'inbox', userIds }));
      const parts = chunks(appended);
      return chunks(message.userIds).map((userIds, i) => ({
        kind: 'inbox',
        userIds,
        event,
        appended: parts[i]!,
        ...(timing ? { timing } : {}),
      }));
    }
    case 'ephemeral':
      return chunks(message.userIds).map((userIds) => ({ kind: 'ephemeral', userIds, event: message.event }));
    case 'close-sessions':
      return chunks(message.sessionIds).map((sessionIds) => ({ kind: 'close-sessions', sessionIds }));
    case 'invalidate': {
      const { chatIds = [], userIds = [] } = message;
      if (chatIds.length + userIds.length <= IDS_PER_MESSAGE) return [message];
      return [
        ...(chatIds.length
          ? chunks(chatIds).map((ids) => ({ kind: 'invalidate' as const, chatIds: ids }))
          : []),
        ...(userIds.length
          ? chunks(userIds).map((ids) => ({ kind: 'invalidate' as const, userIds: ids }))
          : []),
      ];
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIdList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string');
}

/** A frame's message, if it is one; ephemeral events must match the contract. */
export function parseBusMessage(value: unknown): BusMessage | null {
  if (!isRecord(value)) return null;
  switch (value.kind) {
    case 'inbox': {
      const { userIds, event, appended, timing } = value;
      if (!isIdList(userIds)) return null;
      // The event and positions are an optimisation: if they do not check out, the devices
      // are woken all the same and read their inboxes.
      const parsed =
        isRecord(event) && typeof event.type === 'string'
          ? parseEvent({ type: event.type, data: event.data })
          : null;
      const positions =
        Array.isArray(appended) &&
        appended.length === userIds.length &&
        appended.every((a) => Array.isArray(a) && a.length === 2 && isIdList(a))
          ? (appended as [string, string][])
          : null;
      if (!parsed || !positions) return { kind: 'inbox', userIds };
      // Timing is for the metrics only: dropped unless it is two finite times.
      const times =
        isRecord(timing) && Number.isFinite(timing.committedAt) && Number.isFinite(timing.publishedAt)
          ? { committedAt: timing.committedAt as number, publishedAt: timing.publishedAt as number }
          : undefined;
      return {
        kind: 'inbox',
        userIds,
        event: parsed,
        appended: positions,
        ...(times ? { timing: times } : {}),
      };
    }
    case 'ephemeral': {
      const { userIds, event } = value;
      if (!isIdList(userIds) || !isRecord(event) || typeof event.type !== 'string') return null;
      const parsed = parseEvent({ type: event.type, data: event.data });
      return parsed ? { kind: 'ephemeral', userIds, event: parsed } : null;
    }
    case 'close-sessions':
      return isIdList(value.sessionIds) ? { kind: 'close-sessions', sessionIds: value.sessionIds } : null;
    case 'invalidate': {
      const { chatIds, userIds } = value;
      if ((chatIds !== undefined && !isIdList(chatIds)) || (userIds !== undefined && !isIdList(userIds))) {
        return null;
      }
      return { kind: 'invalidate', ...(chatIds && { chatIds }), ...(userIds && { userIds }) };
    }
    default:
      return null;
  }
}
