/**
 * The transactional outbox: every change that produces events records them in the same
 * transaction (the `outbox` table), so nothing committed can fail to be published. After
 * the commit the node hands the same entries to its relay, which publishes them at once
 * and deletes the rows; rows a crashed node left behind are published by any node's relay
 * (relay.ts).
 *
 * An entry is either an event as it is, or what to render at publish time from the
 * database (a new message, a member's view of a chat), because some events can only be
 * computed after the commit, and the recovery path must be able to compute them too.
 */
import type { MemberRole, Message, ServerEvent } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Prisma } from '../infra/db/generated/client.js';

/** Who receives an event: these users, or the chat's members at publish time. */
export type Audience = { chatId: string } | { userIds: string[] };

export type OutboxEntry =
  | { kind: 'event'; audience: Audience; event: ServerEvent }
  /**
   * message:new (or, with `edited`, message:edited) for each message, as it is stored at
   * publish time, to its chat's members; `presented` skips the database.
   */
  | { kind: 'messages'; messageIds: string[]; presented?: Message[]; edited?: true }
  /**
   * chat:created with each user's own view of the chat; with `like`, every user gets the
   * view of a new member derived from one viewer's (one query for a whole group).
   */
  | { kind: 'chat-created'; chatId: string; userIds: string[]; like?: NewMemberView }
  /** chat:updated with the chat's shared facts, to its members. */
  | { kind: 'chat-updated'; chatId: string };

/** A new member's view: `viewerId`'s view with this role and read position. */
export interface NewMemberView {
  viewerId: string;
  role: MemberRole;
  lastReadSeq: number;
}

/** Entries with the ids of their outbox rows. */
export interface CommittedUnit {
  ids: string[];
  entries: OutboxEntry[];
  /**
   * chatId → the membership version (chats.members_version) the unit committed under, for
   * every chat whose members it goes to. Absent on rows recovered from the table: their
   * chats are read afresh.
   */
  versions?: Record<string, number>;
  /**
   * When the unit committed (ms since the epoch), for the delivery metrics; the relay takes
   * the moment it is handed the unit when absent (right after the commit).
   */
  committedAt?: number;
}

/** What a transaction body uses to say what must be published after its commit. */
export class Emitter {
  readonly entries: OutboxEntry[] = [];
  /** Chats whose members receive something: their membership versions go with the unit. */
  readonly chatIds = new Set<string>();

  toChat(chatId: string, event: ServerEvent): void {
    this.chatIds.add(chatId);
    this.entries.push({ kind: 'event', audience: { chatId }, event });
  }

  toUsers(userIds: readonly string[], event: ServerEvent): void {
    const unique = [...new Set(userIds)];
    if (unique.length) this.entries.push({ kind: 'event', audience: { userIds: unique }, event });
  }

  /** message:new for rows this transaction appended to the chat, to its members. */
  newMessages(chatId: string, messageIds: readonly string[]): void {
    if (messageIds.length === 0) return;
    this.chatIds.add(chatId);
    this.entries.push({ kind: 'messages', messageIds: [...messageIds] });
  }

  chatCreated(chatId: string, userIds: readonly string[], like?: NewMemberView): void {
    if (userIds.length === 0) return;
    this.entries.push({
      kind: 'chat-created',
      chatId,
      userIds: [...new Set(userIds)],
      ...(like ? { like } : {}),
    });
  }

  chatUpdated(chatId: string): void {
    this.entries.push({ kind: 'chat-updated', chatId });
  }
}

interface OutboxColumns {
  chatId: string | null;
  userIds: string[];
  messageIds: string[];
  payload: Prisma.InputJsonValue | null;
}

/** One row per entry. */
export function toColumns(entry: OutboxEntry): OutboxColumns {
  switch (entry.kind) {
    case 'event':
      return 'chatId' in entry.audience
        ? { chatId: entry.audience.chatId, userIds: [], messageIds: [], payload: entry.event as never }
        : { chatId: null, userIds: entry.audience.userIds, messageIds: [], payload: entry.event as never };
    case 'messages':
      return {
        chatId: null,
        userIds: [],
        messageIds: entry.messageIds,
        payload: entry.edited ? { render: 'message:edited' } : null,
      };
    case 'chat-created':
      return {
        chatId: entry.chatId,
        userIds: entry.userIds,
        messageIds: [],
        payload: entry.like
          ? { render: 'chat:created', like: { ...entry.like } }
          : { render: 'chat:created' },
      };
    case 'chat-updated':
      return { chatId: entry.chatId, userIds: [], messageIds: [], payload: { render: 'chat:updated' } };
  }
}

/** A row read back (by the relay, after a crash) as the entry it was written from. */
export function fromColumns(row: {
  chat_id: string | null;
  user_ids: string[] | null;
  message_ids: string[] | null;
  payload: unknown;
}): OutboxEntry | null {
  const userIds = row.user_ids ?? [];
  const messageIds = row.message_ids ?? [];
  const payload = row.payload as { render?: string; type?: string; like?: NewMemberView } | null;
  if (messageIds.length)
    return payload?.render === 'message:edited'
      ? { kind: 'messages', messageIds, edited: true }
      : { kind: 'messages', messageIds };
  if (!payload) return null;
  if (payload.render === 'chat:created' && row.chat_id) {
    return {
      kind: 'chat-created',
      chatId: row.chat_id,
      userIds,
      ...(payload.like ? { like: payload.like } : {}),
    };
  }
  if (payload.render === 'chat:updated' && row.chat_id) return { kind: 'chat-updated', chatId: row.chat_id };
  if (typeof payload.type !== 'string') return null;
  const event = payload as ServerEvent;
  if (userIds.length) return { kind: 'event', audience: { userIds }, event };
  if (row.chat_id) return { kind: 'event', audience: { chatId: row.chat_id }, event };
  return null;
}

/** Writes the entries inside the caller's transaction; returns the row ids in order. */
export async function writeOutbox(
  tx: Prisma.TransactionClient,
  now: Date,
  entries: readonly OutboxEntry[],
): Promise<string[]> {
  if (entries.length === 0) return [];
  const rows = await tx.outboxEvent.createManyAndReturn({
    data: entries.map((e) => {
      const c = toColumns(e);
      return {
        createdAt: now,
        chatId: c.chatId,
        userIds: c.userIds,
        messageIds: c.messageIds,
        ...(c.payload === null ? {} : { payload: c.payload }),
      };
    }),
    select: { id: true },
  });
  return rows.map((r) => r.id.toString());
}

/**
 * Runs `body` in a transaction whose events are recorded in the outbox, and publishes
 * them once it has committed. Resolves after they are published (a publishing failure is
 * the relay's to retry, never the caller's error).
 */
export async function inTransaction<T>(
  ctx: AppContext,
  body: (tx: Prisma.TransactionClient, emit: Emitter) => Promise<T>,
): Promise<T> {
  const emit = new Emitter();
  let ids: string[] = [];
  let versions: Record<string, number> | undefined;
  const result = await ctx.db.prisma.$transaction(async (tx) => {
    const value = await body(tx, emit);
    if (emit.chatIds.size) versions = await membersVersions(tx, [...emit.chatIds]);
    ids = await writeOutbox(tx, ctx.now(), emit.entries);
    return value;
  });
  if (ids.length)
    await ctx.relay.committed({ ids, entries: emit.entries, ...(versions ? { versions } : {}) });
  return result;
}

/** The chats' membership versions as this transaction sees them (its own changes included). */
async function membersVersions(
  tx: Prisma.TransactionClient,
  chatIds: string[],
): Promise<Record<string, number>> {
  const rows = await tx.$queryRawUnsafe<{ id: string; members_version: number }[]>(
    `SELECT id::text AS id, members_version FROM chats WHERE id = ANY($1::uuid[])`,
    chatIds,
  );
  return Object.fromEntries(rows.map((r) => [r.id, r.members_version]));
}
