/**
 * The outbox relay: publishes what transactions committed, in commit order, and makes
 * sure nothing committed is left unpublished.
 *
 * - Fast path: right after a commit the node hands its entries over (`committed`). One
 *   queue per node publishes them in the order they were handed over, so a chat's events
 *   leave this node in the order its transactions committed. Published rows are deleted
 *   in batches a moment later.
 * - Recovery: every `sweepMs` the relay claims rows older than `staleMs` (a node died
 *   between commit and publish, or its database connection broke at the wrong moment),
 *   publishes them and deletes them. Claims are leases (FOR UPDATE SKIP LOCKED plus
 *   `claimed_at`), so any number of nodes can sweep and a claim whose node died is taken
 *   over after `staleMs`. Delivery is at least once: a row can be published twice in
 *   rare races, and clients deduplicate by id.
 *
 * Before publishing an event that changes a chat's membership or rules, the relay
 * invalidates that chat in every node's directory (the bus), so audiences computed after
 * it see the change. Audiences never wait for that, though: a unit carries the membership
 * version each chat committed under, and the directory reads a chat cached at an older
 * one again; a recovered row (no versions) has its chats read afresh.
 */
import type { Message, ServerEvent } from '@parley/contracts';
import type { FastifyBaseLogger } from 'fastify';
import type { AppContext } from '../app-context.js';
import { chatInfoOf, loadChatView, viewForNewMember } from '../chats/chat-views.js';
import { AppError } from '../infra/errors.js';
import { presentStoredMessages } from '../messages/presenters.js';
import { fromColumns, type CommittedUnit, type OutboxEntry } from './outbox.js';

export interface Relay {
  /** Publishes a committed unit after everything handed over before it. Never rejects. */
  committed(unit: CommittedUnit): Promise<void>;
  /** Claims and publishes left-behind rows now; returns how many rows it published. */
  sweep(): Promise<number>;
  /** Publishes the outbox rows of these messages now, whatever their age (a lost commit answer). */
  recoverMessages(messageIds: readonly string[]): Promise<number>;
  /** Deletes the rows of everything published so far. */
  flushDeletes(): Promise<void>;
  start(): void;
  close(): Promise<void>;
}

export interface RelayOptions {
  sweepMs: number;
  staleMs: number;
  log: FastifyBaseLogger;
}

/** Event types after which a chat's cached membership or rules are out of date. */
const CHANGES_CHAT = new Set<string>([
  'chat:created',
  'chat:updated',
  'chat:deleted',
  'chat:member_added',
  'chat:member_removed',
  'chat:member_updated',
]);

/** Membership versions a unit committed under; undefined for a recovered row. */
type Versions = Record<string, number> | undefined;

const DELETE_BATCH = 1000;
const DELETE_DELAY_MS = 100;
const SWEEP_BATCH = 200;

export function createRelay(ctx: AppContext, opts: RelayOptions): Relay {
  /** Resolves when every unit handed over so far has been issued. */
  let issueTurn: Promise<void> = Promise.resolve();
  /** Units issued or being prepared, not yet finished. */
  const inFlight = new Set<Promise<boolean>>();
  let toDelete: string[] = [];
  /** Published here, not yet deleted: a sweep that claims one only deletes it. */
  const published = new Set<string>();
  /** Handed to this node's queue, not yet published: a sweep leaves them to it. */
  const queued = new Set<string>();
  let deleteTimer: NodeJS.Timeout | undefined;
  let deleting: Promise<void> = Promise.resolve();
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<number> | null = null;
  let closed = false;

  function invalidateChats(chatIds: string[]) {
    if (chatIds.length) void ctx.bus.publish({ kind: 'invalidate', chatIds });
  }

  /**
   * The chat's members as of the unit's commit: at least the version it committed under,
   * or, for a recovered row, as the database has them now.
   */
  function membersOf(chatId: string, versions: Versions): Promise<string[]> {
    if (!versions) ctx.directory.invalidate({ chatIds: [chatId] });
    return ctx.directory.memberIds(chatId, versions?.[chatId]);
  }

  async function audienceOf(audience: { chatId: string } | { userIds: string[] }, versions: Versions) {
    return 'userIds' in audience ? audience.userIds : membersOf(audience.chatId, versions);
  }

  /** A unit's events with their audiences, worked out before its turn to be issued. */
  interface Prepared {
    /** Chats whose cached membership or rules this unit changes (every node forgets them). */
    invalidate: string[];
    publications: { userIds: string[]; event: ServerEvent }[];
  }

  async function prepareMessages(
    messages: Message[],
    type: 'message:new' | 'message:edited',
    versions: Versions,
    out: Prepared,
  ) {
    const reread = new Set<string>(); // a recovered row's chats: read afresh once each
    for (const { chatId } of messages) {
      if (!versions && !reread.has(chatId)) {
        reread.add(chatId);
        ctx.directory.invalidate({ chatIds: [chatId] });
      }
    }
    for (const message of messages) {
      out.publications.push({
        userIds: await ctx.directory.memberIds(message.chatId, versions?.[message.chatId]),
        event: { type, data: { message } },
      });
    }
  }

  async function viewOrNull(userId: string, chatId: string) {
    try {
      return await loadChatView(ctx, userId, chatId);
    } catch (err) {
      // No longer a member (or the chat is gone): nothing to tell them.
      if (err instanceof AppError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  }

  /** Forgets the chat here at once (what this unit reads next is fresh); other nodes at issue. */
  function changes(chatId: string, out: Prepared) {
    ctx.directory.invalidate({ chatIds: [chatId] });
    out.invalidate.push(chatId);
  }

  async function prepareEntry(entry: OutboxEntry, versions: Versions, out: Prepared): Promise<void> {
    switch (entry.kind) {
      case 'event': {
        const chatId = chatIdOf(entry.event);
        if (chatId && CHANGES_CHAT.has(entry.event.type)) changes(chatId, out);
        out.publications.push({ userIds: await audienceOf(entry.audience, versions), event: entry.event });
        return;
      }
      case 'messages': {
        const messages = entry.presented ?? (await presentStoredMessages(ctx.db.prisma, entry.messageIds));
        return prepareMessages(messages, entry.edited ? 'message:edited' : 'message:new', versions, out);
      }
      case 'chat-created': {
        changes(entry.chatId, out);
        const { like } = entry;
        const base = like ? await viewOrNull(like.viewerId, entry.chatId) : null;
        for (const userId of entry.userIds) {
          const chat =
            base && like
              ? viewForNewMember(base, like.role, like.lastReadSeq)
              : await viewOrNull(userId, entry.chatId);
          if (chat)
            out.publications.push({ userIds: [userId], event: { type: 'chat:created', data: { chat } } });
        }
        return;
      }
      case 'chat-updated': {
        changes(entry.chatId, out);
        const chat = await ctx.directory.chat(entry.chatId);
        if (!chat) return;
        // A direct chat is named after the other person, so each side gets its own view.
        const viewers =
          chat.kind === 'direct' ? [...chat.members.keys()] : [...chat.members.keys()].slice(0, 1);
        for (const viewer of viewers) {
          const view = await viewOrNull(viewer, entry.chatId);
          if (!view) continue;
          const audience = chat.kind === 'direct' ? [viewer] : [...chat.members.keys()];
          out.publications.push({
            userIds: audience,
            event: { type: 'chat:updated', data: { chat: chatInfoOf(view) } },
          });
        }
        return;
      }
    }
  }

  async function prepareUnit(unit: CommittedUnit): Promise<Prepared> {
    const out: Prepared = { invalidate: [], publications: [] };
    for (const entry of unit.entries) await prepareEntry(entry, unit.versions, out);
    return out;
  }

  /**
   * Starts everything a unit publishes, synchronously: the invalidation first, then each
   * event's inbox appends, so that they reach Redis (one connection) in this order.
   */
  function issue(prepared: Prepared, committedAt: number): Promise<unknown> {
    if (prepared.invalidate.length) invalidateChats(prepared.invalidate);
    return Promise.all(
      prepared.publications.map(({ userIds, event }) => ctx.events.toUsers(userIds, event, { committedAt })),
    );
  }

  /**
   * Publishes a unit after every unit handed over before it has been issued (not finished:
   * units are prepared ahead and their appends and wake-ups are in flight together, in
   * order, instead of a round trip each). Resolves with false when it failed: the rows
   * stay in the outbox for the sweep.
   */
  function publishInOrder(unit: CommittedUnit, path: 'live' | 'recovered'): Promise<boolean> {
    const committedAt = unit.committedAt ?? Date.now();
    const prepared = prepareUnit(unit);
    prepared.catch(() => undefined); // awaited below, in turn
    const before = issueTurn;
    let issued!: () => void;
    issueTurn = new Promise<void>((resolve) => (issued = resolve));
    const done = (async () => {
      let completion: Promise<unknown>;
      try {
        await before;
        completion = issue(await prepared, committedAt);
      } finally {
        issued();
      }
      await completion;
    })().then(
      () => {
        ctx.metrics.outboxLag.observe({ path }, Math.max(0, Date.now() - committedAt) / 1000);
        markPublished(unit.ids);
        return true;
      },
      (err: unknown) => {
        // Left in the outbox: the sweep publishes it once the cause (usually the database) is gone.
        opts.log.warn({ err, outboxIds: unit.ids }, 'publishing committed events failed; the relay retries');
        return false;
      },
    );
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    return done;
  }

  function markPublished(ids: readonly string[]) {
    for (const id of ids) published.add(id);
    toDelete.push(...ids);
    if (toDelete.length >= DELETE_BATCH) void flushDeletes();
    else if (!deleteTimer) {
      deleteTimer = setTimeout(() => void flushDeletes(), DELETE_DELAY_MS);
      deleteTimer.unref();
    }
  }

  function flushDeletes(): Promise<void> {
    if (deleteTimer) clearTimeout(deleteTimer);
    deleteTimer = undefined;
    const ids = toDelete;
    toDelete = [];
    if (ids.length === 0) return deleting;
    deleting = deleting.then(async () => {
      for (let i = 0; i < ids.length; i += DELETE_BATCH) {
        const part = ids.slice(i, i + DELETE_BATCH);
        try {
          await ctx.db.sql(DELETE_ROWS, [part]);
          for (const id of part) published.delete(id);
        } catch {
          // The database is away: try again with the next batch (the rows are harmless meanwhile).
          if (!closed) toDelete.push(...part);
        }
      }
    });
    return deleting;
  }

  function committed(unit: CommittedUnit): Promise<void> {
    for (const id of unit.ids) queued.add(id);
    return publishInOrder(unit, 'live').then(() => {
      for (const id of unit.ids) queued.delete(id);
    });
  }

  interface ClaimedRow {
    id: string;
    chat_id: string | null;
    user_ids: string[] | null;
    message_ids: string[] | null;
    payload: unknown;
    attempts: number;
    created_at: Date;
  }

  async function publishClaimed(rows: ClaimedRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const runs: Promise<boolean>[] = [];
    for (const row of rows) {
      // This node is behind, not dead: its own queue publishes it (no second copy).
      if (queued.has(row.id)) continue;
      if (published.has(row.id)) {
        // Published by this node's fast path, only the delete is pending.
        toDelete.push(row.id);
        continue;
      }
      const entry = fromColumns(row);
      if (!entry) {
        opts.log.error({ outboxId: row.id }, 'outbox row cannot be read; dropped');
        toDelete.push(row.id);
        continue;
      }
      if (row.attempts > 3)
        opts.log.warn({ outboxId: row.id, attempts: row.attempts }, 'outbox row keeps failing');
      // Its commit time is the row's (written in the transaction, by the committing node's clock).
      runs.push(
        publishInOrder(
          { ids: [row.id], entries: [entry], committedAt: row.created_at.getTime() },
          'recovered',
        ),
      );
    }
    const count = (await Promise.all(runs)).filter(Boolean).length;
    await flushDeletes();
    return count;
  }

  async function sweepOnce(): Promise<number> {
    const now = ctx.now();
    const cutoff = new Date(now.getTime() - opts.staleMs);
    return publishClaimed(await ctx.db.sql<ClaimedRow>(CLAIM_STALE, [now, cutoff, SWEEP_BATCH]));
  }

  function sweep(): Promise<number> {
    sweeping ??= sweepOnce().finally(() => {
      sweeping = null;
    });
    return sweeping;
  }

  return {
    committed,
    sweep,
    async recoverMessages(messageIds) {
      return publishClaimed(await ctx.db.sql<ClaimedRow>(CLAIM_FOR_MESSAGES, [ctx.now(), messageIds]));
    },
    flushDeletes,
    start() {
      const tick = () => {
        sweepTimer = setTimeout(() => {
          sweep()
            .catch((err) => opts.log.warn({ err }, 'outbox sweep failed'))
            .finally(() => {
              if (!closed) tick();
            });
        }, opts.sweepMs);
        sweepTimer.unref();
      };
      // Whatever a previous run left behind goes out first.
      void sweep().catch((err) => opts.log.warn({ err }, 'outbox sweep failed'));
      tick();
    },
    async close() {
      closed = true;
      if (sweepTimer) clearTimeout(sweepTimer);
      await sweeping?.catch(() => 0);
      while (inFlight.size) await Promise.all([...inFlight]);
      await flushDeletes();
    },
  };
}

function chatIdOf(event: ServerEvent): string | undefined {
  const data = event.data as { chatId?: unknown; chat?: { id?: unknown } };
  if (typeof data.chatId === 'string') return data.chatId;
  if (typeof data.chat?.id === 'string') return data.chat.id;
  return undefined;
}

const DELETE_ROWS = {
  name: 'outbox-delete',
  text: `DELETE FROM outbox WHERE id = ANY($1::bigint[])`,
};

const RETURNED = `id::text AS id, chat_id::text AS chat_id, user_ids::text[] AS user_ids,
      message_ids::text[] AS message_ids, payload, attempts, created_at`;

const CLAIM_FOR_MESSAGES = {
  name: 'outbox-claim-messages',
  text: `UPDATE outbox SET claimed_at = $1, attempts = attempts + 1
    WHERE id IN (SELECT id FROM outbox WHERE message_ids && $2::uuid[] ORDER BY id FOR UPDATE SKIP LOCKED)
    RETURNING ${RETURNED}`,
};

const CLAIM_STALE = {
  name: 'outbox-claim-stale',
  text: `UPDATE outbox SET claimed_at = $1, attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM outbox
      WHERE created_at < $2 AND (claimed_at IS NULL OR claimed_at < $2)
      ORDER BY id LIMIT $3
      FOR UPDATE SKIP LOCKED)
    RETURNING ${RETURNED}`,
};
