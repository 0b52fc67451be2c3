/**
 * Disappearing messages on or off. In a group only admins may change it; in a direct chat
 * either person. Messages sent while it is on expire; turning it off keeps their times.
 */
import type { Chat } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { appendSystemMessage } from '../messages/append-message.js';
import { lockChat, requireMembership, requireRole } from './access.js';
import { assertMayWrite } from './chat-rules.js';
import { loadChatView } from './chat-views.js';

export async function updateChatSettings(
  ctx: AppContext,
  userId: string,
  chatId: string,
  settings: { messageTtlSeconds: number | null },
): Promise<Chat> {
  return ctx.pipeline.exclusive(async () => {
    const now = ctx.now();
    await inTransaction(ctx, async (tx, emit) => {
      await lockChat(tx, chatId);
      await assertMayWrite(tx, { userId, chatId, action: 'settings' });
      const me = await requireMembership(tx, chatId, userId);
      if (me.chat.kind === 'group') requireRole(me, 'admin');
      if (me.chat.messageTtlSeconds === settings.messageTtlSeconds) return;
      await tx.chat.update({
        where: { id: chatId },
        data: { messageTtlSeconds: settings.messageTtlSeconds },
      });
      const line = await appendSystemMessage(tx, chatId, now, {
        action: 'ttl_changed',
        actorId: userId,
        userIds: [],
        value: settings.messageTtlSeconds === null ? null : String(settings.messageTtlSeconds),
      });
      emit.chatUpdated(chatId);
      emit.newMessages(chatId, [line.id]);
    });
    return loadChatView(ctx, userId, chatId);
  });
}
