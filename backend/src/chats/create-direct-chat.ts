/**
 * Opens the direct chat between two people: created once per pair (a unique key on the
 * sorted pair decides races), then the same chat is returned.
 */
import { randomUUID } from 'node:crypto';
import type { Chat } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { refuseIfBlocked } from '../contacts/blocks.js';
import { needsRequest, reopenRequest } from './chat-requests.js';
import { loadChatView } from './chat-views.js';

export async function createDirectChat(
  ctx: AppContext,
  userId: string,
  otherId: string,
): Promise<{ chat: Chat; created: boolean }> {
  if (otherId === userId) {
    throw new AppError('VALIDATION_ERROR', 'You cannot open a direct chat with yourself.', [
      { path: 'userId', message: 'Pick someone other than yourself.', location: 'body' },
    ]);
  }
  const other = await ctx.db.prisma.user.findUnique({ where: { id: otherId }, select: { id: true } });
  if (!other) throw new AppError('NOT_FOUND');
  await refuseIfBlocked(ctx.db.prisma, userId, otherId);
  const directKey = [userId, otherId].sort().join(':');

  const existing = await ctx.db.prisma.chat.findUnique({
    where: { directKey },
    select: { id: true, requestState: true, requestedBy: true, rejectedAt: true },
  });
  if (existing) {
    await reopenRequest(ctx, existing, userId);
    return { chat: await reopen(ctx, userId, existing.id), created: false };
  }
  const asRequest = await needsRequest(ctx, userId, otherId);

  const now = ctx.now();
  const chatId = randomUUID();
  try {
    await inTransaction(ctx, async (tx, emit) => {
      await tx.chat.create({
        data: {
          id: chatId,
          kind: 'direct',
          directKey,
          ...(asRequest ? { requestState: 'pending', requestedBy: userId } : {}),
          createdAt: now,
          lastActivityAt: now,
          members: {
            create: [
              { userId, role: 'member', joinedAt: now },
              { userId: otherId, role: 'member', joinedAt: now },
            ],
          },
        },
      });
      emit.chatCreated(chatId, [userId, otherId]);
    });
  } catch (err) {
    // Both people opened the chat at the same moment: the other request created it.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      const winner = await ctx.db.prisma.chat.findUniqueOrThrow({
        where: { directKey },
        select: { id: true },
      });
      return { chat: await reopen(ctx, userId, winner.id), created: false };
    }
    throw err;
  }
  return { chat: await loadChatView(ctx, userId, chatId), created: true };
}

/** A direct chat the user had deleted for themselves comes back to their list. */
async function reopen(ctx: AppContext, userId: string, chatId: string): Promise<Chat> {
  await inTransaction(ctx, async (tx, emit) => {
    const { count } = await tx.chatMember.updateMany({
      where: { chatId, userId, hidden: true },
      data: { hidden: false },
    });
    if (count > 0) emit.chatCreated(chatId, [userId]);
  });
  return loadChatView(ctx, userId, chatId);
}
