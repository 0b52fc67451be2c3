/**
 * DELETE /chats/:id. For a group: the owner deletes it for everyone (messages included).
 * For a direct chat: the caller clears its history and hides it for themselves; a new
 * message brings it back.
 */
import type { AppContext } from '../app-context.js';
import { memberIds, requireMembership, requireRole } from './access.js';

export async function deleteChat(ctx: AppContext, userId: string, chatId: string): Promise<void> {
  await ctx.chatQueue.run(chatId, async () => {
    const me = await requireMembership(ctx.db.prisma, chatId, userId);
    if (me.chat.kind === 'direct') {
      await ctx.db.prisma.chatMember.update({
        where: { chatId_userId: { chatId, userId } },
        data: {
          hidden: true,
          clearedSeq: me.chat.lastSeq,
          lastReadSeq: Math.max(me.lastReadSeq, me.chat.lastSeq),
        },
      });
      await ctx.events.toUsers([userId], { type: 'chat:deleted', data: { chatId } });
      return;
    }
    requireRole(me, 'owner');
    const members = await memberIds(ctx.db.prisma, chatId);
    await ctx.db.prisma.chat.delete({ where: { id: chatId } });
    await ctx.events.toUsers(members, { type: 'chat:deleted', data: { chatId } });
  });
}
