/**
 * Adds people to a group (admins and the owner). New members see the whole history but
 * start with nothing unread; existing members are skipped, not an error.
 */
import { GROUP_MAX_MEMBERS, type ChatMember } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { appendSystemMessage, publishNewMessages } from '../messages/append-message.js';
import { publishToChat, requireGroupRole } from './access.js';
import { loadChatView, presentMembers, viewForNewMember } from './chat-views.js';
import { requireUsersExist } from './create-group.js';

export async function addMembers(
  ctx: AppContext,
  userId: string,
  chatId: string,
  userIds: string[],
): Promise<ChatMember[]> {
  await requireUsersExist(ctx, userIds, 'userIds');
  return ctx.chatQueue.run(chatId, async () => {
    const now = ctx.now();
    const outcome = await ctx.db.prisma.$transaction(async (tx) => {
      await requireGroupRole(tx, chatId, userId, 'admin');
      const current = await tx.chatMember.findMany({ where: { chatId }, select: { userId: true } });
      const present = new Set(current.map((m) => m.userId));
      const added = [...new Set(userIds)].filter((id) => !present.has(id));
      if (added.length === 0) return null;
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
          lastDeliveredSeq: line.seq,
        })),
      });
      return { added, line, memberCount: current.length + added.length };
    });
    if (!outcome) return [];

    const rows = await ctx.db.prisma.chatMember.findMany({
      where: { chatId, userId: { in: outcome.added } },
      include: { user: true },
      orderBy: { joinedAt: 'asc' },
    });
    const members = await presentMembers(ctx, rows);
    const base = await loadChatView(ctx, userId, chatId);
    const newView = viewForNewMember(base, 'member', outcome.line.seq);
    for (const id of outcome.added)
      await ctx.events.toUsers([id], { type: 'chat:created', data: { chat: newView } });
    await publishToChat(ctx, chatId, {
      type: 'chat:member_added',
      data: { chatId, members, memberCount: outcome.memberCount },
    });
    await publishNewMessages(ctx, ctx.db.prisma, chatId, [outcome.line]);
    return members;
  });
}
