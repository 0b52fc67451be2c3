/**
 * Deleting a message. For everyone (the sender, or a group admin): the text and reactions
 * are erased and a tombstone keeps the seq. For me: hidden for the caller only.
 */
import type { DeleteScope } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { hasRole } from '../chats/access.js';
import { assertMayWrite } from '../chats/chat-rules.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { writeSearchRow } from '../search/search-index.js';
import { nextChatVersion, requireVisibleMessage } from './access.js';

export async function deleteMessage(
  ctx: AppContext,
  userId: string,
  messageId: string,
  scope: DeleteScope,
): Promise<void> {
  await inTransaction(ctx, async (tx, emit) => {
    const { message, membership, chat, chatId } = await requireVisibleMessage(tx, messageId, userId);
    await assertMayWrite(tx, {
      userId,
      chatId,
      action: scope === 'me' ? 'delete-for-me' : 'delete-for-everyone',
    });
    if (scope === 'me') {
      await tx.messageHide.upsert({
        where: { userId_messageId: { userId, messageId } },
        create: { userId, messageId },
        update: {},
      });
      emit.toUsers([userId], {
        type: 'message:deleted',
        data: { chatId, messageId, seq: message.seq, scope: 'me', version: message.version, deletedAt: null },
      });
      return;
    }
    const mayDelete =
      message.kind === 'text' &&
      (message.senderId === userId || (chat.kind === 'group' && hasRole(membership, 'admin')));
    if (!mayDelete) throw new AppError('FORBIDDEN', 'You can only delete your own messages.');
    if (message.deletedAt) return;
    const version = await nextChatVersion(tx, chatId);
    await tx.messageReaction.deleteMany({ where: { messageId } });
    await tx.messageMention.deleteMany({ where: { messageId } });
    // Its files are unreachable from now on; the media sweep deletes the bytes.
    await tx.media.updateMany({ where: { messageId, deletedAt: null }, data: { deletedAt: ctx.now() } });
    const outcome = await tx.message.update({
      where: { id: messageId },
      data: { body: '', deletedAt: ctx.now(), version: { increment: 1 }, changedInVersion: version },
    });
    // Its text leaves the search index with it.
    await writeSearchRow(tx, messageId);
    emit.toChat(chatId, {
      type: 'message:deleted',
      data: {
        chatId,
        messageId,
        seq: outcome.seq,
        scope: 'everyone',
        version: outcome.version,
        deletedAt: outcome.deletedAt!.toISOString(),
      },
    });
  });
}
