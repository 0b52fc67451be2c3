/**
 * Chats as one member sees them: the shared facts plus their role, the other person of a
 * direct chat, the newest message and their unread count. One query for the page, then
 * batched look-ups for previews and peers.
 */
import type {
  Chat,
  ChatInfo,
  ChatKind,
  ChatMember,
  ChatPreferences,
  MemberRole,
  SystemEvent,
} from '@parley/contracts';
import { messagePreviewText, systemEventText } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { toPublicUser } from '../users/presenters.js';
import type { Db } from './access.js';

interface ChatRow {
  id: string;
  kind: string;
  name: string;
  description: string;
  avatar_url: string | null;
  message_ttl_seconds: number | null;
  request_state: string | null;
  requested_by: string | null;
  last_seq: number;
  version: number;
  created_at: Date;
  last_activity_at: Date;
  role: string;
  archived: boolean;
  muted_until: Date | null;
  notify: string;
  last_read_seq: number;
  cleared_seq: number;
  member_count: number;
  unread_count: number;
  /** The newest message this member can see (not cleared, not deleted for them). */
  last_message_id: string | null;
}

export interface ChatPage {
  chats: Chat[];
  nextCursor: string | null;
}

export async function loadChatViews(
  ctx: AppContext,
  userId: string,
  opts: {
    chatIds?: string[];
    cursor?: string | undefined;
    limit?: number;
    includeHidden?: boolean;
    /** Only archived chats (true) or only the others (false); both when unset. */
    archived?: boolean;
    /** Only requests others sent the user (true), or everything else (false); both when unset. */
    incomingRequests?: boolean;
  },
): Promise<ChatPage> {
  const limit = opts.limit ?? 50;
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
  const rows = await ctx.db.prisma.$queryRaw<ChatRow[]>`
    SELECT c.id::text AS id, c.kind, c.name, c.description, c.avatar_url, c.message_ttl_seconds,
           c.request_state, c.requested_by::text AS requested_by,
           c.last_seq, c.version,
           c.created_at, c.last_activity_at, m.role, m.last_read_seq, m.cleared_seq,
           m.archived, m.muted_until, m.notify,
           (SELECT count(*)::int FROM chat_members x WHERE x.chat_id = c.id) AS member_count,
           (SELECT count(*)::int FROM messages u
             WHERE u.chat_id = c.id AND u.seq > GREATEST(m.last_read_seq, m.cleared_seq)
               AND u.kind = 'text' AND u.deleted_at IS NULL AND u.sender_id <> m.user_id
               AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = u.id AND h.user_id = m.user_id)
           ) AS unread_count,
           (SELECT v.id::text FROM messages v
             WHERE v.chat_id = c.id AND v.seq > m.cleared_seq
               AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = v.id AND h.user_id = m.user_id)
             ORDER BY v.seq DESC LIMIT 1
           ) AS last_message_id
    FROM chat_members m JOIN chats c ON c.id = m.chat_id
    WHERE m.user_id = ${userId}::uuid
      ${opts.includeHidden ? Prisma.empty : Prisma.sql`AND m.hidden = false`}
      ${opts.archived === undefined ? Prisma.empty : Prisma.sql`AND m.archived = ${opts.archived}`}
      ${
        opts.incomingRequests === undefined
          ? Prisma.empty
          : opts.incomingRequests
            ? Prisma.sql`AND c.request_state = 'pending' AND c.requested_by <> m.user_id`
            : Prisma.sql`AND NOT (c.request_state IS NOT NULL AND c.requested_by <> m.user_id)`
      }
      ${opts.chatIds ? Prisma.sql`AND c.id IN (${Prisma.join(opts.chatIds.map((id) => Prisma.sql`${id}::uuid`))})` : Prisma.empty}
      ${after ? Prisma.sql`AND (c.last_activity_at, c.id) < (${after.at}::timestamptz, ${after.id}::uuid)` : Prisma.empty}
    ORDER BY c.last_activity_at DESC, c.id DESC
    LIMIT ${limit + 1}`;
  const page = rows.slice(0, limit);
  const chats = await decorate(ctx.db.prisma, userId, page);
  const last = page.at(-1);
  return {
    chats,
    nextCursor: rows.length > limit && last ? encodeCursor(last.last_activity_at, last.id) : null,
  };
}

/** One chat as the user sees it, or 404 (also for chats the user is not in). */
export async function loadChatView(ctx: AppContext, userId: string, chatId: string): Promise<Chat> {
  const { chats } = await loadChatViews(ctx, userId, { chatIds: [chatId], includeHidden: true, limit: 1 });
  const chat = chats[0];
  if (!chat) throw new AppError('NOT_FOUND');
  return chat;
}

async function decorate(db: Db, userId: string, rows: ChatRow[]): Promise<Chat[]> {
  if (rows.length === 0) return [];
  const lastIds = rows.flatMap((r) => (r.last_message_id ? [r.last_message_id] : []));
  const lastMessages = lastIds.length
    ? await db.message.findMany({
        where: { id: { in: lastIds } },
        include: {
          media: {
            where: { deletedAt: null },
            orderBy: { position: 'asc' },
            select: { kind: true, name: true },
          },
        },
      })
    : [];
  const directIds = rows.filter((r) => r.kind === 'direct').map((r) => r.id);
  const peers = directIds.length
    ? await db.chatMember.findMany({
        where: { chatId: { in: directIds }, userId: { not: userId } },
        include: { user: true },
      })
    : [];
  const senderIds = [...new Set(lastMessages.flatMap((m) => (m.senderId ? [m.senderId] : [])))];
  const senders = senderIds.length
    ? await db.user.findMany({ where: { id: { in: senderIds } }, select: { id: true, displayName: true } })
    : [];
  const senderName = new Map(senders.map((s) => [s.id, s.displayName]));
  const lastByChat = new Map(lastMessages.map((m) => [m.chatId, m]));
  const peerByChat = new Map(peers.map((p) => [p.chatId, p.user]));

  return rows.map((row) => {
    const peer = peerByChat.get(row.id);
    const last = lastByChat.get(row.id);
    const info: ChatInfo = {
      id: row.id,
      kind: row.kind as ChatKind,
      name: row.kind === 'direct' ? (peer?.displayName ?? 'Deleted user') : row.name,
      description: row.description,
      avatarUrl: row.avatar_url,
      memberCount: row.member_count,
      messageTtlSeconds: row.message_ttl_seconds,
      request:
        row.request_state && row.requested_by
          ? { state: row.request_state as 'pending' | 'rejected', requestedBy: row.requested_by }
          : null,
      lastSeq: row.last_seq,
      version: row.version,
      createdAt: row.created_at.toISOString(),
      lastActivityAt: row.last_activity_at.toISOString(),
    };
    return {
      ...info,
      myRole: row.role as MemberRole,
      peer: peer ? toPublicUser(peer) : null,
      lastMessage: last
        ? {
            id: last.id,
            seq: last.seq,
            kind: last.kind as 'text' | 'system',
            senderId: last.senderId,
            senderName: last.senderId ? (senderName.get(last.senderId) ?? null) : null,
            text: last.deletedAt
              ? ''
              : last.kind === 'system'
                ? systemEventText(last.system as SystemEvent)
                : messagePreviewText(
                    last.body,
                    last.media as { kind: 'image' | 'voice' | 'video' | 'file'; name: string }[],
                  ),
            deleted: last.deletedAt !== null,
            createdAt: last.createdAt.toISOString(),
          }
        : null,
      lastReadSeq: row.last_read_seq,
      unreadCount: row.unread_count,
      preferences: presentPreferences(row.archived, row.muted_until, row.notify),
    };
  });
}

/** The shared part of a chat, for chat:updated. */
export function chatInfoOf(chat: Chat): ChatInfo {
  return {
    id: chat.id,
    kind: chat.kind,
    name: chat.name,
    description: chat.description,
    avatarUrl: chat.avatarUrl,
    memberCount: chat.memberCount,
    messageTtlSeconds: chat.messageTtlSeconds,
    request: chat.request,
    lastSeq: chat.lastSeq,
    version: chat.version,
    createdAt: chat.createdAt,
    lastActivityAt: chat.lastActivityAt,
  };
}

/**
 * A new member's view of a group derived from another member's, without a query per
 * member: only role, read position and unread count differ for someone who just joined.
 */
export function viewForNewMember(base: Chat, role: MemberRole, lastReadSeq: number): Chat {
  return {
    ...base,
    myRole: role,
    lastReadSeq,
    unreadCount: 0,
    preferences: presentPreferences(false, null, 'all'),
  };
}

/** "Muted forever" is stored as the last moment of year 9999. */
export const MUTED_FOREVER = new Date('9999-12-31T23:59:59.999Z');

export function presentPreferences(
  archived: boolean,
  mutedUntil: Date | null,
  notify: string,
): ChatPreferences {
  return {
    archived,
    mutedUntil:
      mutedUntil === null
        ? null
        : mutedUntil.getTime() >= MUTED_FOREVER.getTime()
          ? 'forever'
          : mutedUntil.toISOString(),
    notify: notify as ChatPreferences['notify'],
  };
}

/** What presentMembers needs loaded with each membership row. */
export const memberInclude = { user: true, delivery: true } satisfies Prisma.ChatMemberInclude;

export async function presentMembers(
  ctx: AppContext,
  rows: Prisma.ChatMemberGetPayload<{ include: typeof memberInclude }>[],
): Promise<ChatMember[]> {
  const online = await ctx.presence.onlineAmong(rows.map((r) => r.userId));
  return rows.map((r) => ({
    user: toPublicUser(r.user),
    role: r.role as MemberRole,
    joinedAt: r.joinedAt.toISOString(),
    // Read implies delivered.
    lastDeliveredSeq: Math.max(r.lastReadSeq, r.delivery?.lastDeliveredSeq ?? 0),
    lastReadSeq: r.lastReadSeq,
    online: online.has(r.userId),
    lastSeenAt: r.user.lastSeenAt?.toISOString() ?? null,
  }));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  // Only what encodeCursor makes: anything else would reach the SQL casts and fail there.
  const isoAt = at && !Number.isNaN(Date.parse(at)) ? new Date(at).toISOString() : undefined;
  if (!at || !id || isoAt !== at || !UUID.test(id)) {
    throw new AppError('VALIDATION_ERROR', undefined, [
      { path: 'cursor', message: 'Invalid cursor.', location: 'query' },
    ]);
  }
  return { at, id };
}
