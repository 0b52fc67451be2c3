/** Reactions: each user adds each emoji to a message at most once; adding twice is a no-op. */
import type { ReactionSummary } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { publishToChat } from '../chats/access.js';
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
  const { chatId } = await requireVisibleMessage(ctx.db.prisma, messageId, userId);
  return ctx.chatQueue.run(chatId, async () => {
    const outcome = await ctx.db.prisma.$transaction(async (tx) => {
      const { message } = await requireVisibleMessage(tx, messageId, userId);
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
      return { changed: changed > 0, version, reactions: summariseReactions(reactions) };
    });
    if (outcome.changed) {
      await publishToChat(ctx, chatId, {
        type: present ? 'reaction:added' : 'reaction:removed',
        data: { chatId, messageId, userId, emoji, version: outcome.version },
      });
    }
    return outcome.reactions;
  });
}
