/**
 * DELETE /chats/:id. For a group: the owner deletes it for everyone (messages included).
 * For a direct chat: the caller clears its history and hides it for themselves; a new
 * message brings it back.
 */
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { lockChat, requireMembership, requireRole } from './access.js';

export async function deleteChat(ctx: AppContext, userId: string, chatId: string): Promise<void> {
  await ctx.pipeline.exclusive(() =>
    inTransaction(ctx, async (tx, emit) => {
      await lockChat(tx, chatId);
      const me = await requireMembership(tx, chatId, userId);
      if (me.chat.kind === 'direct') {
        await tx.chatMember.update({
          where: { chatId_userId: { chatId, userId } },
          data: {
            hidden: true,
            clearedSeq: me.chat.lastSeq,
            lastReadSeq: Math.max(me.lastReadSeq, me.chat.lastSeq),
          },
        });
        emit.toUsers([userId], { type: 'chat:deleted', data: { chatId } });
        return;
      }
      requireRole(me, 'owner');
      const members = await tx.chatMember.findMany({ where: { chatId }, select: { userId: true } });
      await tx.chat.delete({ where: { id: chatId } });
      emit.toUsers(
        members.map((m) => m.userId),
        { type: 'chat:deleted', data: { chatId } },
      );
    }),
  );
}
