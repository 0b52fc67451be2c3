/** Renames a group or changes its description or picture (admins and the owner). */
import type { Chat, UpdateChatInput } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { appendSystemMessage, publishNewMessages } from '../messages/append-message.js';
import { publishToChat, requireGroupRole } from './access.js';
import { chatInfoOf, loadChatView } from './chat-views.js';

export async function updateChat(
  ctx: AppContext,
  userId: string,
  chatId: string,
  changes: UpdateChatInput,
): Promise<Chat> {
  return ctx.chatQueue.run(chatId, async () => {
    const now = ctx.now();
    const line = await ctx.db.prisma.$transaction(async (tx) => {
      const me = await requireGroupRole(tx, chatId, userId, 'admin');
      await tx.chat.update({
        where: { id: chatId },
        data: {
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
          ...(changes.avatarUrl !== undefined ? { avatarUrl: changes.avatarUrl } : {}),
        },
      });
      const renamed = changes.name !== undefined && changes.name !== me.chat.name;
      return renamed
        ? appendSystemMessage(tx, chatId, now, {
            action: 'renamed',
            actorId: userId,
            userIds: [],
            value: changes.name!,
          })
        : null;
    });
    const chat = await loadChatView(ctx, userId, chatId);
    await publishToChat(ctx, chatId, { type: 'chat:updated', data: { chat: chatInfoOf(chat) } });
    if (line) await publishNewMessages(ctx, ctx.db.prisma, chatId, [line]);
    return chat;
  });
}
