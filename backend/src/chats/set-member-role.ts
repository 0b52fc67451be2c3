/** Roles in a group: the owner makes members admins and back, and hands the group over. */
import type { ChatMember } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { appendSystemMessage } from '../messages/append-message.js';
import { requireGroupRole } from './access.js';
import { memberInclude, presentMembers } from './chat-views.js';
import { emitMemberUpdate } from './remove-member.js';

export async function setMemberRole(
  ctx: AppContext,
  userId: string,
  chatId: string,
  targetId: string,
  role: 'admin' | 'member',
): Promise<ChatMember> {
  return ctx.pipeline.exclusive(async () => {
    const now = ctx.now();
    await inTransaction(ctx, async (tx, emit) => {
      await requireGroupRole(tx, chatId, userId, 'owner');
      const target = await tx.chatMember.findUnique({
        where: { chatId_userId: { chatId, userId: targetId } },
      });
      if (!target) throw new AppError('NOT_FOUND');
      if (target.role === 'owner') throw new AppError('FORBIDDEN', 'Hand the group over instead.');
      if (target.role === role) return;
      await tx.chatMember.update({ where: { chatId_userId: { chatId, userId: targetId } }, data: { role } });
      const line = await appendSystemMessage(tx, chatId, now, {
        action: 'role_changed',
        actorId: userId,
        userIds: [targetId],
        value: role,
      });
      await emitMemberUpdate(ctx, tx, emit, chatId, targetId);
      emit.newMessages(chatId, [line.id]);
    });
    const row = await ctx.db.prisma.chatMember.findUniqueOrThrow({
      where: { chatId_userId: { chatId, userId: targetId } },
      include: memberInclude,
    });
    return (await presentMembers(ctx, [row]))[0]!;
  });
}

/** The owner hands the group to another member and stays on as an admin. */
export async function transferOwnership(
  ctx: AppContext,
  userId: string,
  chatId: string,
  targetId: string,
): Promise<void> {
  await ctx.pipeline.exclusive(() =>
    inTransaction(ctx, async (tx, emit) => {
      const now = ctx.now();
      await requireGroupRole(tx, chatId, userId, 'owner');
      if (targetId === userId) return;
      const target = await tx.chatMember.findUnique({
        where: { chatId_userId: { chatId, userId: targetId } },
      });
      if (!target) throw new AppError('NOT_FOUND');
      await tx.chatMember.update({
        where: { chatId_userId: { chatId, userId: targetId } },
        data: { role: 'owner' },
      });
      await tx.chatMember.update({ where: { chatId_userId: { chatId, userId } }, data: { role: 'admin' } });
      const line = await appendSystemMessage(tx, chatId, now, {
        action: 'ownership_transferred',
        actorId: userId,
        userIds: [targetId],
        value: null,
      });
      await emitMemberUpdate(ctx, tx, emit, chatId, targetId);
      await emitMemberUpdate(ctx, tx, emit, chatId, userId);
      emit.newMessages(chatId, [line.id]);
    }),
  );
}
