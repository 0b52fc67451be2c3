/** Roles in a group: the owner makes members admins and back, and hands the group over. */
import type { ChatMember } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { appendSystemMessage, publishNewMessages } from '../messages/append-message.js';
import { requireGroupRole } from './access.js';
import { presentMembers } from './chat-views.js';
import { publishMemberUpdate } from './remove-member.js';

export async function setMemberRole(
  ctx: AppContext,
  userId: string,
  chatId: string,
  targetId: string,
  role: 'admin' | 'member',
): Promise<ChatMember> {
  return ctx.chatQueue.run(chatId, async () => {
    const now = ctx.now();
    const line = await ctx.db.prisma.$transaction(async (tx) => {
      await requireGroupRole(tx, chatId, userId, 'owner');
      const target = await tx.chatMember.findUnique({
        where: { chatId_userId: { chatId, userId: targetId } },
      });
      if (!target) throw new AppError('NOT_FOUND');
      if (target.role === 'owner') throw new AppError('FORBIDDEN', 'Hand the group over instead.');
      if (target.role === role) return null;
      await tx.chatMember.update({ where: { chatId_userId: { chatId, userId: targetId } }, data: { role } });
      return appendSystemMessage(tx, chatId, now, {
        action: 'role_changed',
        actorId: userId,
        userIds: [targetId],
        value: role,
      });
    });
    if (line) {
      await publishMemberUpdate(ctx, chatId, targetId);
      await publishNewMessages(ctx, ctx.db.prisma, chatId, [line]);
    }
    const row = await ctx.db.prisma.chatMember.findUniqueOrThrow({
      where: { chatId_userId: { chatId, userId: targetId } },
      include: { user: true },
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
  await ctx.chatQueue.run(chatId, async () => {
    const now = ctx.now();
    const line = await ctx.db.prisma.$transaction(async (tx) => {
      await requireGroupRole(tx, chatId, userId, 'owner');
      if (targetId === userId) return null;
      const target = await tx.chatMember.findUnique({
        where: { chatId_userId: { chatId, userId: targetId } },
      });
      if (!target) throw new AppError('NOT_FOUND');
      await tx.chatMember.update({
        where: { chatId_userId: { chatId, userId: targetId } },
        data: { role: 'owner' },
      });
      await tx.chatMember.update({ where: { chatId_userId: { chatId, userId } }, data: { role: 'admin' } });
      return appendSystemMessage(tx, chatId, now, {
        action: 'ownership_transferred',
        actorId: userId,
        userIds: [targetId],
        value: null,
      });
    });
    if (!line) return;
    await publishMemberUpdate(ctx, chatId, targetId);
    await publishMemberUpdate(ctx, chatId, userId);
    await publishNewMessages(ctx, ctx.db.prisma, chatId, [line]);
  });
}
