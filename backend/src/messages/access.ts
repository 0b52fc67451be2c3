/** A message is visible to members of its chat; to anyone else it does not exist. */
import type { Db } from '../chats/access.js';
import { AppError } from '../infra/errors.js';

export async function requireVisibleMessage(db: Db, messageId: string, userId: string) {
  const message = await db.message.findFirst({
    where: { id: messageId, chat: { members: { some: { userId } } } },
    include: { chat: { include: { members: { where: { userId } } } } },
  });
  // Prisma reads the chat in a statement of its own: a chat deleted in between (its messages
  // go with it) comes back as null, and the message no longer exists for anyone.
  const chat = message?.chat;
  const membership = chat?.members[0];
  if (!message || !chat || !membership || message.seq <= membership.clearedSeq)
    throw new AppError('NOT_FOUND');
  return { message, membership, chat, chatId: message.chatId };
}

/**
 * The same question as `requireVisibleMessage`, as SQL for a statement of its own: the
 * message `message` (columns id, chat_id, kind, sender_id, deleted_at, body, version) if
 * `user` is a member of its chat and had not cleared it; no row otherwise. Both are SQL
 * expressions of type uuid.
 */
export function visibleMessageSql(message: string, user: string): string {
  return `SELECT msg.id, msg.chat_id, msg.kind, msg.sender_id, msg.deleted_at, msg.body, msg.version
  FROM messages msg JOIN chat_members me ON me.chat_id = msg.chat_id AND me.user_id = ${user}
  WHERE msg.id = ${message} AND msg.seq > me.cleared_seq`;
}

/** Bumps the chat version and returns it; the changed message records it. */
export async function nextChatVersion(db: Db, chatId: string): Promise<number> {
  const [row] = await db.$queryRaw<{ version: number }[]>`
    UPDATE chats SET version = version + 1 WHERE id = ${chatId}::uuid RETURNING version`;
  return row!.version;
}
