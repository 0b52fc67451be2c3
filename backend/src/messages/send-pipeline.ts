/**
 * The send pipeline: one lane per node through which every write that takes a chat's
 * seq passes, in arrival order.
 *
 * - Sends are group-committed: while one batch is in the database, the sends that arrive
 *   wait and go together in the next (one statement, see send-batch.ts). When idle, a
 *   send starts a batch at once, so batching adds no latency; under load batches grow by
 *   themselves, up to `maxBatch`.
 * - Each sender's ack resolves right after the commit; the batch's events go to the relay
 *   in the same step, so a chat's events leave this node in seq order.
 * - Other writes that append to a chat (system lines, request chats) run as exclusive jobs
 *   in the same lane, between batches.
 * - Backpressure: at most `maxQueued` sends wait; beyond that a send is refused with a
 *   retryable SERVICE_UNAVAILABLE. A database outage blocks the lane; what waited longer
 *   than `queueTimeoutMs` is refused the same way and the lane recovers by itself.
 * - A connection lost mid-statement leaves the outcome unknown: the pipeline asks the
 *   database whether the batch committed; if it did, the senders get their acks and the
 *   relay publishes the outbox rows; if not, the batch is tried again.
 */
import { randomUUID } from 'node:crypto';
import { previewText, type Message, type SendMessageInput } from '@parley/contracts';
import type { FastifyBaseLogger } from 'fastify';
import type { AppContext } from '../app-context.js';
import type { Profile } from '../chats/chat-directory.js';
import type { SendPipelineSettings } from '../infra/config.js';
import { isTransientDbError, isUniqueViolation } from '../infra/db/transient.js';
import { AppError, serviceUnavailable } from '../infra/errors.js';
import { commitSendBatch, committedMessageIds, type BatchItem, type BatchRow } from './send-batch.js';
import { presentStoredMessages } from './presenters.js';

export interface SendResult {
  message: Message;
  /** True when this clientMsgId was sent before and the original is returned. */
  duplicate: boolean;
}

export interface SendRequest {
  senderId: string;
  chatId: string;
  input: SendMessageInput;
  /** Member ids named in the body. */
  mentions: string[];
}

export interface SendPipelineOptions extends SendPipelineSettings {
  log: FastifyBaseLogger;
  /** What to do with an item the batch statement sent back as `slow` (its own transaction). */
  sendSlow: (request: SendRequest) => Promise<SendResult>;
  /** A stored message with this clientMsgId: the retry's answer. */
  findEarlier: (request: SendRequest) => Promise<SendResult>;
  /** A batch was committed: its size and how long the statement took. */
  onBatch?: (size: number, seconds: number) => void;
}

export interface SendPipeline {
  send(request: SendRequest): Promise<SendResult>;
  /** Runs `job` in the lane: after everything queued before it, before what comes after. */
  exclusive<T>(job: () => Promise<T>): Promise<T>;
  /** Sends waiting for their batch. */
  readonly queued: number;
  /** Batches in the database now. */
  readonly inFlight: number;
  /** Finishes what is queued (shutdown). */
  drain(): Promise<void>;
}

interface PendingSend {
  request: SendRequest;
  item: BatchItem;
  enqueuedAt: number;
  resolve(result: SendResult): void;
  reject(err: unknown): void;
}

type Unit = { kind: 'send'; send: PendingSend } | { kind: 'job'; run: () => Promise<void> };

export function createSendPipeline(ctx: AppContext, opts: SendPipelineOptions): SendPipeline {
  /** Sends and jobs in arrival order. */
  const units: Unit[] = [];
  let queuedSends = 0;
  /** Chats with a batch in the database: their next sends wait, so a chat's seqs and events stay in order. */
  const busyChats = new Set<string>();
  let inFlight = 0;
  let jobRunning = false;
  let pumpScheduled = false;
  let idleWaiters: (() => void)[] = [];
  /** Arrival rate of sends (per second), measured over windows of at least RATE_WINDOW_MS. */
  let rate = 0;
  let windowStart = performance.now();
  let windowCount = 0;

  function countArrival() {
    windowCount += 1;
    const now = performance.now();
    const elapsed = now - windowStart;
    if (elapsed >= RATE_WINDOW_MS) {
      rate = (windowCount * 1000) / elapsed;
      windowCount = 0;
      windowStart = now;
    }
  }

  /** How long a new batch waits for more sends: 0 unless the node is busy. */
  function lingerMs(): number {
    if (opts.lingerMaxMs <= 0 || rate < opts.lingerMinRate || queuedSends >= opts.maxBatch) return 0;
    return Math.min(opts.lingerMaxMs, 2000 / rate);
  }

  /** Starts what can start: a job when nothing else runs, else batches up to `concurrency`. */
  function schedulePump() {
    if (pumpScheduled) return;
    pumpScheduled = true;
    const run = () => {
      pumpScheduled = false;
      pump();
    };
    // Let everything that arrived in this tick join the batch (and under load, a little more).
    const wait = lingerMs();
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  function pump() {
    while (!jobRunning && units.length > 0) {
      const head = units[0]!;
      if (head.kind === 'job') {
        // A job is a barrier: it runs alone, after the batches before it.
        if (inFlight > 0) return;
        units.shift();
        jobRunning = true;
        void head.run().finally(() => {
          jobRunning = false;
          pump();
        });
        return;
      }
      if (inFlight >= opts.concurrency) return;
      const batch = takeBatch();
      if (batch.length === 0) return;
      const chats = new Set(batch.map((s) => s.request.chatId));
      for (const chatId of chats) busyChats.add(chatId);
      inFlight += 1;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
        for (const chatId of chats) busyChats.delete(chatId);
        pump();
      });
    }
    if (!jobRunning && inFlight === 0 && units.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /**
   * Up to `maxBatch` sends from the front of the queue (before any job) whose chat has no
   * batch in flight. A chat with one in flight keeps all its sends for later, in order.
   */
  function takeBatch(): PendingSend[] {
    const batch: PendingSend[] = [];
    const held = new Set<string>();
    const keep: Unit[] = [];
    let i = 0;
    const scanLimit = opts.maxBatch * 4;
    for (; i < units.length && i < scanLimit && batch.length < opts.maxBatch; i++) {
      const unit = units[i]!;
      if (unit.kind === 'job') break;
      const chatId = unit.send.request.chatId;
      if (busyChats.has(chatId) || held.has(chatId)) {
        held.add(chatId);
        keep.push(unit);
      } else batch.push(unit.send);
    }
    units.splice(0, i, ...keep);
    queuedSends -= batch.length;
    return batch;
  }

  async function runBatch(all: PendingSend[]) {
    const now = Date.now();
    const batch: PendingSend[] = [];
    for (const s of all) {
      // Waited through an outage: the client has retried or will (same clientMsgId).
      if (now - s.enqueuedAt > opts.queueTimeoutMs) s.reject(serviceUnavailable());
      else batch.push(s);
    }
    if (batch.length === 0) return;
    // The same clientMsgId twice in one batch: the later ones get the first one's answer.
    const first = new Map<string, PendingSend>();
    const unique: PendingSend[] = [];
    for (const s of batch) {
      const key = `${s.request.senderId}:${s.request.input.clientMsgId}`;
      const winner = first.get(key);
      if (!winner) {
        first.set(key, s);
        unique.push(s);
        continue;
      }
      const { resolve: resolveWinner, reject: rejectWinner } = winner;
      winner.resolve = (r) => {
        resolveWinner(r);
        s.resolve(r.message.chatId === s.request.chatId ? { ...r, duplicate: true } : r);
      };
      winner.reject = (err) => {
        rejectWinner(err);
        s.reject(err);
      };
    }
    await commitWithRetries(unique);
  }

  async function commitWithRetries(batch: PendingSend[]) {
    for (let attempt = 1; ; attempt++) {
      const now = ctx.now();
      try {
        const started = performance.now();
        const rows = await commitSendBatch(
          ctx.db,
          batch.map((s) => s.item),
          now,
        );
        const committedAt = Date.now();
        opts.onBatch?.(batch.length, (performance.now() - started) / 1000);
        return handleRows(batch, rows, now, committedAt);
      } catch (err) {
        // Another node committed one of these clientMsgIds a moment ago: the next try sees it.
        if (isUniqueViolation(err) && attempt < 3) continue;
        if (isTransientDbError(err)) {
          const outcome = await outcomeOf(batch);
          if (outcome === 'committed') return recoverCommitted(batch);
          if (outcome === 'not-committed' && Date.now() - batch[0]!.enqueuedAt < opts.queueTimeoutMs) {
            await sleep(Math.min(1000, 50 * 2 ** attempt));
            continue;
          }
          for (const s of batch) s.reject(serviceUnavailable());
          return;
        }
        // Not the database's state: one item is bad. Alone, each gets its own answer.
        if (batch.length > 1) {
          for (const s of batch) await commitWithRetries([s]);
          return;
        }
        opts.log.error({ err }, 'send batch failed');
        batch[0]!.reject(err);
        return;
      }
    }
  }

  /** After a connection error: did the statement commit before the connection went? */
  async function outcomeOf(batch: PendingSend[]): Promise<'committed' | 'not-committed' | 'unknown'> {
    const ids = batch.map((s) => s.item.messageId);
    // As long as a send may wait at all; then the sender is told to retry (same clientMsgId).
    const until = Date.now() + opts.queueTimeoutMs;
    for (let wait = 50; Date.now() < until; wait = Math.min(1000, wait * 2)) {
      try {
        const found = await committedMessageIds(ctx.db, ids);
        return found.size > 0 ? 'committed' : 'not-committed';
      } catch (err) {
        if (!isTransientDbError(err)) throw err;
        await sleep(wait);
      }
    }
    return 'unknown';
  }

  async function presentStored(ids: string[]): Promise<Map<string, Message>> {
    return new Map((await presentStoredMessages(ctx.db.prisma, ids)).map((m) => [m.id, m]));
  }

  /** The batch committed but its answer was lost: ack from the stored rows, publish from the outbox. */
  async function recoverCommitted(batch: PendingSend[]) {
    const ids = batch.map((s) => s.item.messageId);
    await ctx.relay.recoverMessages(ids);
    const byId = await presentStored(ids);
    for (const s of batch) {
      const message = byId.get(s.item.messageId);
      if (message) s.resolve({ message, duplicate: false });
      // Refused by the statement (not a member, a retry, ...): asked again, it answers the same.
      else void ctx.pipeline.send(s.request).then(s.resolve, s.reject);
    }
  }

  async function handleRows(batch: PendingSend[], rows: BatchRow[], now: Date, committedAt: number) {
    const accepted: { send: PendingSend; row: BatchRow }[] = [];
    const slow: PendingSend[] = [];
    for (const row of rows) {
      const send = batch[row.ord]!;
      switch (row.status) {
        case 'ok':
          accepted.push({ send, row });
          break;
        case 'not_found':
          send.reject(new AppError('NOT_FOUND'));
          break;
        case 'blocked':
          send.reject(new AppError('BLOCKED'));
          break;
        case 'bad_reply':
          send.reject(
            new AppError('VALIDATION_ERROR', 'You can only reply to a message of the same chat.', [
              { path: 'replyTo', message: 'No such message in this chat.', location: 'body' },
            ]),
          );
          break;
        case 'duplicate':
          void opts.findEarlier(send.request).then(send.resolve, send.reject);
          break;
        case 'slow':
          slow.push(send);
          break;
      }
    }
    // Request chats next in the lane, before anything queued after this batch (their chats
    // stay busy until this returns, so nothing of theirs overtakes).
    units.unshift(
      ...slow.map((s): Unit => ({
        kind: 'job',
        run: () => opts.sendSlow(s.request).then(s.resolve, s.reject),
      })),
    );
    const first = rows[0];
    const outboxIds = first?.outbox_ids ?? [];
    if (accepted.length === 0) return;

    const profileIds = accepted.flatMap(({ send, row }) =>
      row.reply_sender_id ? [send.request.senderId, row.reply_sender_id] : [send.request.senderId],
    );
    // Senders are cached from the membership check; a miss costs one query.
    const profiles = await ctx.directory.profiles(profileIds).catch(() => new Map<string, Profile>());
    const reopened = (first?.reopened ?? []).map((r) => ({
      kind: 'chat-created' as const,
      chatId: r.chatId,
      userIds: r.userIds,
    }));
    const messageIds = accepted.map(({ send }) => send.item.messageId);
    // Fan-out goes to the members as of these commits, whatever this node has cached.
    const versions: Record<string, number> = {};
    for (const { send, row } of accepted)
      if (row.members_version !== null) versions[send.item.chatId] = row.members_version;
    if (!accepted.every(({ send }) => profiles.has(send.request.senderId))) {
      // Names not to be had (the database just went away): the relay presents the messages
      // from the database, and the acks come from there too.
      void ctx.relay.committed({
        ids: outboxIds,
        entries: [...reopened, { kind: 'messages', messageIds }],
        versions,
        committedAt,
      });
      const stored = await presentStored(messageIds).catch(() => null);
      for (const { send } of accepted) {
        const message = stored?.get(send.item.messageId);
        // Committed: a retry with the same clientMsgId gets it as the original.
        if (message) send.resolve({ message, duplicate: false });
        else send.reject(serviceUnavailable());
      }
      return;
    }
    const messages: Message[] = [];
    for (const { send, row } of accepted) {
      const message = presentNew(send, row, now, profiles);
      messages.push(message);
      send.resolve({ message, duplicate: false });
    }
    void ctx.relay.committed({
      ids: outboxIds,
      entries: [...reopened, { kind: 'messages', messageIds, presented: messages }],
      versions,
      committedAt,
    });
    for (const { send } of accepted) {
      // The message is what they were typing.
      void ctx.typing.stopAll(send.request.senderId, send.request.chatId).catch(() => undefined);
    }
  }

  return {
    send(request) {
      if (queuedSends >= opts.maxQueued) return Promise.reject(serviceUnavailable());
      return new Promise<SendResult>((resolve, reject) => {
        const { input } = request;
        units.push({
          kind: 'send',
          send: {
            request,
            enqueuedAt: Date.now(),
            resolve,
            reject,
            item: {
              messageId: randomUUID(),
              chatId: request.chatId,
              senderId: request.senderId,
              clientMsgId: input.clientMsgId,
              body: input.body,
              replyToId: input.replyTo ?? null,
              priority: input.priority ?? 'normal',
              mentions: request.mentions,
            },
          },
        });
        queuedSends += 1;
        countArrival();
        schedulePump();
      });
    },
    exclusive<T>(job: () => Promise<T>) {
      return new Promise<T>((resolve, reject) => {
        units.push({ kind: 'job', run: () => job().then(resolve, reject) });
        schedulePump();
      });
    },
    get queued() {
      return queuedSends;
    },
    get inFlight() {
      return inFlight;
    },
    drain() {
      if (!jobRunning && inFlight === 0 && units.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

function presentNew(send: PendingSend, row: BatchRow, now: Date, profiles: Map<string, Profile>): Message {
  const { item } = send;
  const sender = profiles.get(item.senderId);
  const replySender = row.reply_sender_id ? profiles.get(row.reply_sender_id) : undefined;
  return {
    id: item.messageId,
    chatId: item.chatId,
    seq: row.seq!,
    kind: 'text',
    senderId: item.senderId,
    sender: sender ? { id: sender.id, username: sender.username, displayName: sender.displayName } : null,
    clientMsgId: item.clientMsgId,
    body: item.body,
    // Sends with attachments go through send-message.ts's own transaction.
    attachments: [],
    replyTo:
      item.replyToId && row.reply_seq !== null
        ? {
            id: item.replyToId,
            seq: row.reply_seq,
            senderId: row.reply_sender_id,
            senderName: replySender?.displayName ?? null,
            bodyPreview: row.reply_deleted ? '' : previewText(row.reply_body ?? ''),
            deleted: row.reply_deleted === true,
          }
        : null,
    system: null,
    reactions: [],
    priority: item.priority,
    mentions: item.mentions,
    expiresAt: row.expires_at ? new Date(row.expires_at).toISOString() : null,
    createdAt: now.toISOString(),
    editedAt: null,
    deletedAt: null,
    version: 1,
  };
}

const RATE_WINDOW_MS = 250;

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
