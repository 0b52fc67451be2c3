// Message rows → contract shapes, with senders, reply quotes and reactions filled in by
// batched lookups (never one query per message).
import { previewText, type Message, type ReactionSummary, type SystemEvent } from '@parley/contracts';
import type { Prisma } from '../infra/db/generated/client.js';
import type { Db } from '../chats/access.js';
import { presentAttachment } from '../media/presenters.js';

/** What presentMessages needs loaded with each row. */
export const messageInclude = {
  reactions: { orderBy: { createdAt: 'asc' } },
  replyTo: { select: { id: true, seq: true, senderId: true, body: true, deletedAt: true } },
  mentions: { select: { userId: true } },
  media: { where: { deletedAt: null }, orderBy: { position: 'asc' } },
} satisfies Prisma.MessageInclude;

export type MessageRow = Prisma.MessageGetPayload<{ include: typeof messageInclude }>;

export function summariseReactions(rows: { emoji: string; userId: string }[]): ReactionSummary[] {
  const byEmoji = new Map<string, string[]>();
  for (const r of rows) {
    const list = byEmoji.get(r.emoji) ?? [];
    list.push(r.userId);
    byEmoji.set(r.emoji, list);
  }
  return [...byEmoji].map(([emoji, userIds]) => ({ emoji, userIds }));
}

export async function presentMessages(db: Db, rows: MessageRow[]): Promise<Message[]> {
  const ids = new Set<string>();
  for (const row of rows) {
    if (row.senderId) ids.add(row.senderId);
    if (row.replyTo?.senderId) ids.add(row.replyTo.senderId);
  }
  const users = ids.size
    ? await db.user.findMany({
        where: { id: { in: [...ids] } },
        select: { id: true, username: true, displayName: true },
      })
    : [];
  const byId = new Map(users.map((u) => [u.id, u]));
  return rows.map((row) => {
    const sender = row.senderId ? byId.get(row.senderId) : undefined;
    const reply = row.replyTo;
    return {
      id: row.id,
      chatId: row.chatId,
      seq: row.seq,
      kind: row.kind as Message['kind'],
      senderId: row.senderId,
      sender: sender ? { id: sender.id, username: sender.username, displayName: sender.displayName } : null,
      clientMsgId: row.clientMsgId,
      body: row.deletedAt ? '' : row.body,
      attachments: row.deletedAt ? [] : row.media.map(presentAttachment),
      replyTo: reply
        ? {
            id: reply.id,
            seq: reply.seq,
            senderId: reply.senderId,
            senderName: reply.senderId ? (byId.get(reply.senderId)?.displayName ?? null) : null,
            bodyPreview: reply.deletedAt ? '' : previewText(reply.body),
            deleted: reply.deletedAt !== null,
          }
        : null,
      system: (row.system as SystemEvent | null) ?? null,
      reactions: row.deletedAt ? [] : summariseReactions(row.reactions),
      priority: row.priority as Message['priority'],
      mentions: row.deletedAt ? [] : row.mentions.map((m) => m.userId),
      expiresAt: row.expiresAt?.toISOString() ?? null,
      createdAt: row.createdAt.toISOString(),
      editedAt: row.editedAt?.toISOString() ?? null,
      deletedAt: row.deletedAt?.toISOString() ?? null,
      version: row.version,
    };
  });
}

/** The stored messages with these ids, presented, in chat and seq order (missing ids are left out). */
export async function presentStoredMessages(db: Db, ids: readonly string[]): Promise<Message[]> {
  const rows = await db.message.findMany({
    where: { id: { in: [...ids] } },
    include: messageInclude,
    orderBy: [{ chatId: 'asc' }, { seq: 'asc' }],
  });
  return presentMessages(db, rows);
}

export async function presentMessage(db: Db, row: MessageRow): Promise<Message> {
  const [message] = await presentMessages(db, [row]);
  return message!;
}
