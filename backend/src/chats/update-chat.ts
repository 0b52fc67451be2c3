/** Renames a group or changes its description or picture (admins and the owner). */
import type { Chat, UpdateChatInput } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { appendSystemMessage } from '../messages/append-message.js';
import { requireGroupRole } from './access.js';
import { loadChatView } from './chat-views.js';

export async function updateChat(
  ctx: AppContext,
  userId: string,
  chatId: string,
  changes: UpdateChatInput,
): Promise<Chat> {
  return ctx.pipeline.exclusive(async () => {
    const now = ctx.now();
    await inTransaction(ctx, async (tx, emit) => {
      const me = await requireGroupRole(tx, chatId, userId, 'admin');
      await tx.chat.update({
        where: { id: chatId },
        data: {
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
          ...(changes.avatarUrl !== undefined ? { avatarUrl: changes.avatarUrl } : {}),
        },
      });
      emit.chatUpdated(chatId);
      if (changes.name !== undefined && changes.name !== me.chat.name) {
        const line = await appendSystemMessage(tx, chatId, now, {
          action: 'renamed',
          actorId: userId,
          userIds: [],
          value: changes.name,
        });
        emit.newMessages(chatId, [line.id]);
      }
    });
    return loadChatView(ctx, userId, chatId);
  });
}
