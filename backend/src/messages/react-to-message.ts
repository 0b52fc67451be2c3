/** Reactions: each user adds each emoji to a message at most once; adding twice is a no-op. */
import type { ReactionSummary } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { assertMayWrite } from '../chats/chat-rules.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { nextChatVersion, requireVisibleMessage } from './access.js';
import { summariseReactions } from './presenters.js';

export async function setReaction(
  ctx: AppContext,
  userId: string,
  messageId: string,
  emoji: string,
  present: boolean,
): Promise<ReactionSummary[]> {
  return inTransaction(ctx, async (tx, emit) => {
    const { message, chatId } = await requireVisibleMessage(tx, messageId, userId);
    // Adding and removing alike: both reach the other members.
    await assertMayWrite(tx, { userId, chatId, action: 'react' });
    if (message.deletedAt) throw new AppError('MESSAGE_DELETED');
    const changed = present
      ? (
          await tx.messageReaction.createMany({
            data: [{ messageId, userId, emoji, createdAt: ctx.now() }],
            skipDuplicates: true,
          })
        ).count
      : (await tx.messageReaction.deleteMany({ where: { messageId, userId, emoji } })).count;
    let version = message.version;
    if (changed > 0) {
      const chatVersion = await nextChatVersion(tx, chatId);
      version = (
        await tx.message.update({
          where: { id: messageId },
          data: { version: { increment: 1 }, changedInVersion: chatVersion },
          select: { version: true },
        })
      ).version;
    }
    const reactions = await tx.messageReaction.findMany({
      where: { messageId },
      orderBy: { createdAt: 'asc' },
    });
    if (changed > 0) {
      emit.toChat(chatId, {
        type: present ? 'reaction:added' : 'reaction:removed',
        data: { chatId, messageId, userId, emoji, version },
      });
    }
    return summariseReactions(reactions);
  });
}
