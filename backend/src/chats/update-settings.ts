/**
 * Disappearing messages on or off. In a group only admins may change it; in a direct chat
 * either person. Messages sent while it is on expire; turning it off keeps their times.
 */
import type { Chat } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { appendSystemMessage, publishNewMessages } from '../messages/append-message.js';
import { lockChat, publishToChat, requireMembership, requireRole } from './access.js';
import { chatInfoOf, loadChatView } from './chat-views.js';

export async function updateChatSettings(
  ctx: AppContext,
  userId: string,
  chatId: string,
  settings: { messageTtlSeconds: number | null },
): Promise<Chat> {
  return ctx.chatQueue.run(chatId, async () => {
    const now = ctx.now();
    const line = await ctx.db.prisma.$transaction(async (tx) => {
      await lockChat(tx, chatId);
      const me = await requireMembership(tx, chatId, userId);
      if (me.chat.kind === 'group') requireRole(me, 'admin');
      if (me.chat.messageTtlSeconds === settings.messageTtlSeconds) return null;
      await tx.chat.update({
        where: { id: chatId },
        data: { messageTtlSeconds: settings.messageTtlSeconds },
      });
      return appendSystemMessage(tx, chatId, now, {
        action: 'ttl_changed',
        actorId: userId,
        userIds: [],
        value: settings.messageTtlSeconds === null ? null : String(settings.messageTtlSeconds),
      });
    });
    const chat = await loadChatView(ctx, userId, chatId);
    if (line) {
      await publishToChat(ctx, chatId, { type: 'chat:updated', data: { chat: chatInfoOf(chat) } });
      await publishNewMessages(ctx, ctx.db.prisma, chatId, [line]);
    }
    return chat;
  });
}
