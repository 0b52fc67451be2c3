/**
 * Adds people to a group (admins and the owner). New members see the whole history but
 * start with nothing unread; existing members are skipped, not an error.
 */
import { GROUP_MAX_MEMBERS, type ChatMember } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { appendSystemMessage } from '../messages/append-message.js';
import { requireGroupRole } from './access.js';
import { memberInclude, presentMembers } from './chat-views.js';
import { requireUsersExist } from './create-group.js';

export async function addMembers(
  ctx: AppContext,
  userId: string,
  chatId: string,
  userIds: string[],
): Promise<ChatMember[]> {
  await requireUsersExist(ctx, userIds, 'userIds');
  return ctx.pipeline.exclusive(() =>
    inTransaction(ctx, async (tx, emit) => {
      const now = ctx.now();
      await requireGroupRole(tx, chatId, userId, 'admin');
      const current = await tx.chatMember.findMany({ where: { chatId }, select: { userId: true } });
      const present = new Set(current.map((m) => m.userId));
      const added = [...new Set(userIds)].filter((id) => !present.has(id));
      if (added.length === 0) return [];
      if (current.length + added.length > GROUP_MAX_MEMBERS) throw new AppError('GROUP_FULL');
      const line = await appendSystemMessage(tx, chatId, now, {
        action: 'member_added',
        actorId: userId,
        userIds: added,
        value: null,
      });
      await tx.chatMember.createMany({
        data: added.map((id) => ({
          chatId,
          userId: id,
          role: 'member',
          joinedAt: now,
          lastReadSeq: line.seq,
        })),
      });
      const rows = await tx.chatMember.findMany({
        where: { chatId, userId: { in: added } },
        include: memberInclude,
        orderBy: { joinedAt: 'asc' },
      });
      const members = await presentMembers(ctx, rows);
      emit.chatCreated(chatId, added, { viewerId: userId, role: 'member', lastReadSeq: line.seq });
      emit.toChat(chatId, {
        type: 'chat:member_added',
        data: { chatId, members, memberCount: current.length + added.length },
      });
      emit.newMessages(chatId, [line.id]);
      return members;
    }),
  );
}
