/**
 * Blocking: either side's block stops direct messages, direct chats, contact requests and
 * presence between two people. Shared groups keep working.
 */
import type { PublicUser } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Db } from '../chats/access.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { toPublicUser } from '../users/presenters.js';

export async function blockedBetween(db: Db, a: string, b: string): Promise<boolean> {
  const row = await db.block.findFirst({
    where: {
      OR: [
        { blockerId: a, blockedId: b },
        { blockerId: b, blockedId: a },
      ],
    },
    select: { blockerId: true },
  });
  return row !== null;
}

export async function refuseIfBlocked(db: Db, a: string, b: string): Promise<void> {
  if (await blockedBetween(db, a, b)) throw new AppError('BLOCKED');
}

/** Of these users, the ones who blocked `viewerId` (they hide their presence from them). */
export async function blockersOf(db: Db, viewerId: string, among: string[]): Promise<Set<string>> {
  if (among.length === 0) return new Set();
  const rows = await db.block.findMany({
    where: { blockedId: viewerId, blockerId: { in: among } },
    select: { blockerId: true },
  });
  return new Set(rows.map((r) => r.blockerId));
}

/** Blocking also ends the contact and any pending request between the two. */
export async function blockUser(ctx: AppContext, userId: string, targetId: string): Promise<void> {
  if (targetId === userId) {
    throw new AppError('VALIDATION_ERROR', 'You cannot block yourself.', [
      { path: 'id', message: 'Pick someone other than yourself.', location: 'params' },
    ]);
  }
  const target = await ctx.db.prisma.user.findUnique({ where: { id: targetId }, select: { id: true } });
  if (!target) throw new AppError('NOT_FOUND');
  const pair = [
    { userId, contactId: targetId },
    { userId: targetId, contactId: userId },
  ];
  await inTransaction(ctx, async (tx, emit) => {
    await tx.block.createMany({ data: [{ blockerId: userId, blockedId: targetId }], skipDuplicates: true });
    const removed = await tx.contact.deleteMany({ where: { OR: pair } });
    const requests = await tx.contactRequest.findMany({
      where: {
        OR: [
          { fromUserId: userId, toUserId: targetId },
          { fromUserId: targetId, toUserId: userId },
        ],
      },
      select: { id: true },
    });
    await tx.contactRequest.deleteMany({ where: { id: { in: requests.map((r) => r.id) } } });
    for (const r of requests) {
      emit.toUsers([userId, targetId], { type: 'contact:request_removed', data: { requestId: r.id } });
    }
    if (removed.count > 0) {
      emit.toUsers([userId], { type: 'contact:removed', data: { userId: targetId } });
      emit.toUsers([targetId], { type: 'contact:removed', data: { userId } });
    }
  });
}

export async function unblockUser(ctx: AppContext, userId: string, targetId: string): Promise<void> {
  const target = await ctx.db.prisma.user.findUnique({ where: { id: targetId }, select: { id: true } });
  if (!target) throw new AppError('NOT_FOUND');
  await ctx.db.prisma.block.deleteMany({ where: { blockerId: userId, blockedId: targetId } });
}

export async function listBlocked(ctx: AppContext, userId: string): Promise<PublicUser[]> {
  const rows = await ctx.db.prisma.block.findMany({
    where: { blockerId: userId },
    include: { blocked: true },
    orderBy: { createdAt: 'desc' },
  });
  return rows.map((r) => toPublicUser(r.blocked));
}
