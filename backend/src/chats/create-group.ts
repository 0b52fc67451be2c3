/**
 * Creates a group with the caller as owner and the given people as members, and posts
 * the "created" system line as message 1.
 */
import { randomUUID } from 'node:crypto';
import { GROUP_MAX_MEMBERS, type Chat } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { inTransaction } from '../events/outbox.js';
import { appendSystemMessage } from '../messages/append-message.js';
import { loadChatView } from './chat-views.js';

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
  await inTransaction(ctx, async (tx, emit) => {
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
      data: { lastReadSeq: line.seq },
    });
    emit.chatCreated(chatId, [ownerId]);
    emit.chatCreated(chatId, memberIds, { viewerId: ownerId, role: 'member', lastReadSeq: line.seq });
    emit.newMessages(chatId, [line.id]);
  });
  return loadChatView(ctx, ownerId, chatId);
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
