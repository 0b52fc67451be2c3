/** Editing your own message: new text, marked edited, the chat's version moves on. */
import type { Message } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { assertMayWrite } from '../chats/chat-rules.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { nextChatVersion, requireVisibleMessage } from './access.js';
import { writeSearchRow } from '../search/search-index.js';
import { resolveMentions } from './mentions.js';
import { messageInclude, presentMessage } from './presenters.js';

export async function editMessage(
  ctx: AppContext,
  userId: string,
  messageId: string,
  body: string,
): Promise<Message> {
  const row = await inTransaction(ctx, async (tx, emit) => {
    const { message, chatId } = await requireVisibleMessage(tx, messageId, userId);
    await assertMayWrite(tx, { userId, chatId, action: 'edit' });
    if (message.kind !== 'text' || message.senderId !== userId) {
      throw new AppError('FORBIDDEN', 'You can only edit your own messages.');
    }
    if (message.deletedAt) throw new AppError('MESSAGE_DELETED');
    if (message.body === body) {
      return tx.message.findUniqueOrThrow({ where: { id: messageId }, include: messageInclude });
    }
    const version = await nextChatVersion(tx, chatId);
    await tx.messageMention.deleteMany({ where: { messageId } });
    const mentions = await resolveMentions(tx, chatId, body);
    if (mentions.length)
      await tx.messageMention.createMany({ data: mentions.map((userId) => ({ messageId, userId })) });
    const row = await tx.message.update({
      where: { id: messageId },
      data: { body, editedAt: ctx.now(), version: { increment: 1 }, changedInVersion: version },
      include: messageInclude,
    });
    // Search finds the new text, not the old, from this commit on.
    await writeSearchRow(tx, messageId);
    emit.toChat(chatId, { type: 'message:edited', data: { message: await presentMessage(tx, row) } });
    return row;
  });
  return presentMessage(ctx.db.prisma, row);
}
