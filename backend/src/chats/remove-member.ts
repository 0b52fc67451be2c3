/**
 * Taking people out of a group: removal by an admin, or leaving. The removed person gets
 * chat:member_removed and then nothing more from the chat: events go to members as they
 * are after the commit.
 */
import type { AppContext } from '../app-context.js';
import { inTransaction, type Emitter } from '../events/outbox.js';
import type { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { appendSystemMessage } from '../messages/append-message.js';
import type { MessageRow } from '../messages/presenters.js';
import { hasRole, lockChat, requireGroup, requireGroupRole, requireMembership } from './access.js';
import { memberInclude, presentMembers } from './chat-views.js';

export async function removeMember(
  ctx: AppContext,
  userId: string,
  chatId: string,
  targetId: string,
): Promise<void> {
  if (targetId === userId) return leaveChat(ctx, userId, chatId);
  await ctx.pipeline.exclusive(() =>
    inTransaction(ctx, async (tx, emit) => {
      const now = ctx.now();
      const me = await requireGroupRole(tx, chatId, userId, 'admin');
      const target = await tx.chatMember.findUnique({
        where: { chatId_userId: { chatId, userId: targetId } },
      });
      if (!target) throw new AppError('NOT_FOUND');
      // Admins remove members; only the owner removes admins; nobody removes the owner.
      if (target.role === 'owner' || (target.role === 'admin' && !hasRole(me, 'owner'))) {
        throw new AppError(
          'FORBIDDEN',
          'Only the owner can remove an admin, and the owner cannot be removed.',
        );
      }
      await tx.chatMember.delete({ where: { chatId_userId: { chatId, userId: targetId } } });
      const line = await appendSystemMessage(tx, chatId, now, {
        action: 'member_removed',
        actorId: userId,
        userIds: [targetId],
        value: null,
      });
      await emitDeparture(ctx, tx, emit, chatId, targetId, [line]);
    }),
  );
}

/**
 * Leaves a group. An owner who leaves hands the group to the longest-standing admin, or
 * else the longest-standing member; the last one out deletes the group.
 */
export async function leaveChat(ctx: AppContext, userId: string, chatId: string): Promise<void> {
  await ctx.pipeline.exclusive(() =>
    inTransaction(ctx, async (tx, emit) => {
      const now = ctx.now();
      await lockChat(tx, chatId);
      const me = await requireMembership(tx, chatId, userId);
      requireGroup(me);
      await tx.chatMember.delete({ where: { chatId_userId: { chatId, userId } } });
      const rest = await tx.chatMember.findMany({
        where: { chatId },
        orderBy: [{ joinedAt: 'asc' }, { userId: 'asc' }],
      });
      if (rest.length === 0) {
        await tx.chat.delete({ where: { id: chatId } });
        emit.toUsers([userId], { type: 'chat:deleted', data: { chatId } });
        return;
      }
      const lines: MessageRow[] = [
        await appendSystemMessage(tx, chatId, now, {
          action: 'member_left',
          actorId: userId,
          userIds: [userId],
          value: null,
        }),
      ];
      if (me.role === 'owner') lines.push(await handOver(tx, chatId, now, rest));
      await emitDeparture(ctx, tx, emit, chatId, userId, lines);
    }),
  );
}

async function handOver(
  tx: Prisma.TransactionClient,
  chatId: string,
  now: Date,
  rest: { userId: string; role: string }[],
): Promise<MessageRow> {
  const heir = rest.find((m) => m.role === 'admin') ?? rest[0]!;
  await tx.chatMember.update({
    where: { chatId_userId: { chatId, userId: heir.userId } },
    data: { role: 'owner' },
  });
  return appendSystemMessage(tx, chatId, now, {
    action: 'ownership_transferred',
    actorId: null,
    userIds: [heir.userId],
    value: null,
  });
}

async function emitDeparture(
  ctx: AppContext,
  tx: Prisma.TransactionClient,
  emit: Emitter,
  chatId: string,
  goneId: string,
  lines: MessageRow[],
) {
  const remaining = await tx.chatMember.findMany({ where: { chatId }, select: { userId: true } });
  emit.toUsers([...remaining.map((m) => m.userId), goneId], {
    type: 'chat:member_removed',
    data: { chatId, userId: goneId, memberCount: remaining.length },
  });
  emit.newMessages(
    chatId,
    lines.map((l) => l.id),
  );
  // A new owner shows up as a member update.
  for (const line of lines) {
    if (
      line.kind === 'system' &&
      (line.system as { action?: string } | null)?.action === 'ownership_transferred'
    ) {
      const heirId = (line.system as { userIds: string[] }).userIds[0]!;
      await emitMemberUpdate(ctx, tx, emit, chatId, heirId);
    }
  }
}

/** chat:member_updated for one member, to the chat (read inside the transaction that changed it). */
export async function emitMemberUpdate(
  ctx: AppContext,
  tx: Prisma.TransactionClient,
  emit: Emitter,
  chatId: string,
  userId: string,
): Promise<void> {
  const row = await tx.chatMember.findUnique({
    where: { chatId_userId: { chatId, userId } },
    include: memberInclude,
  });
  if (!row) return;
  const [member] = await presentMembers(ctx, [row]);
  emit.toChat(chatId, { type: 'chat:member_updated', data: { chatId, member: member! } });
}
