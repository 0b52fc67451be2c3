/**
 * Creates a group with the caller as owner and the given people as members, and posts
 * the "created" system line as message 1.
 */
import { randomUUID } from 'node:crypto';
import { GROUP_MAX_MEMBERS, type Chat } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { appendSystemMessage, publishNewMessages } from '../messages/append-message.js';
import { loadChatView, viewForNewMember } from './chat-views.js';

export async function createGroup(
  ctx: AppContext,
  ownerId: string,
  input: {
    name: string;
    description?: string | undefined;
    avatarUrl?: string | null | undefined;
    memberIds: string[];
  },
): Promise<Chat> {
  const memberIds = [...new Set(input.memberIds)].filter((id) => id !== ownerId);
  if (memberIds.length + 1 > GROUP_MAX_MEMBERS) throw new AppError('GROUP_FULL');
  await requireUsersExist(ctx, input.memberIds, 'memberIds');

  const now = ctx.now();
  const chatId = randomUUID();
  const created = await ctx.db.prisma.$transaction(async (tx) => {
    await tx.chat.create({
      data: {
        id: chatId,
        kind: 'group',
        name: input.name,
        description: input.description ?? '',
        avatarUrl: input.avatarUrl ?? null,
        createdAt: now,
        lastActivityAt: now,
      },
    });
    await tx.chatMember.createMany({
      data: [
        { chatId, userId: ownerId, role: 'owner', joinedAt: now },
        ...memberIds.map((userId) => ({ chatId, userId, role: 'member', joinedAt: now })),
      ],
    });
    const line = await appendSystemMessage(tx, chatId, now, {
      action: 'group_created',
      actorId: ownerId,
      userIds: memberIds,
      value: input.name,
    });
    await tx.chatMember.updateMany({
      where: { chatId },
      data: { lastReadSeq: line.seq, lastDeliveredSeq: line.seq },
    });
    return line;
  });

  const ownerView = await loadChatView(ctx, ownerId, chatId);
  await ctx.events.toUsers([ownerId], { type: 'chat:created', data: { chat: ownerView } });
  const memberView = viewForNewMember(ownerView, 'member', created.seq);
  for (const userId of memberIds)
    await ctx.events.toUsers([userId], { type: 'chat:created', data: { chat: memberView } });
  await publishNewMessages(ctx, ctx.db.prisma, chatId, [created]);
  return ownerView;
}

/** Every id must be a user; the answer names the first that is not. */
export async function requireUsersExist(ctx: AppContext, ids: string[], field: string): Promise<void> {
  if (ids.length === 0) return;
  const unique = [...new Set(ids)];
  const found = await ctx.db.prisma.user.findMany({ where: { id: { in: unique } }, select: { id: true } });
  if (found.length === unique.length) return;
  const known = new Set(found.map((u) => u.id));
  const missing = ids.findIndex((id) => !known.has(id));
  throw new AppError('VALIDATION_ERROR', 'Some of these people do not exist.', [
    { path: `${field}.${missing}`, message: 'No such user.', location: 'body' },
  ]);
}
