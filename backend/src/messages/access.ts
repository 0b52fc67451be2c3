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

/** Bumps the chat version and returns it; the changed message records it. */
export async function nextChatVersion(db: Db, chatId: string): Promise<number> {
  const [row] = await db.$queryRaw<{ version: number }[]>`
    UPDATE chats SET version = version + 1 WHERE id = ${chatId}::uuid RETURNING version`;
  return row!.version;
}
