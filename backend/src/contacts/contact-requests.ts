/**
 * Contact requests: ask, accept, reject or cancel. Asking someone who already asked you
 * makes you contacts at once. Both sides hear every change live.
 */
import { randomUUID } from 'node:crypto';
import type { Contact, ContactRequest } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Prisma } from '../infra/db/generated/client.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { toPublicUser } from '../users/presenters.js';
import { acceptRequestsBetween } from '../chats/chat-requests.js';
import { refuseIfBlocked } from './blocks.js';
import { presentContacts } from './contacts.js';

type RequestRow = Prisma.ContactRequestGetPayload<{ include: { fromUser: true; toUser: true } }>;

export function presentRequest(row: RequestRow, viewerId: string): ContactRequest {
  const incoming = row.toUserId === viewerId;
  return {
    id: row.id,
    direction: incoming ? 'incoming' : 'outgoing',
    user: toPublicUser(incoming ? row.fromUser : row.toUser),
    createdAt: row.createdAt.toISOString(),
  };
}

export async function listRequests(ctx: AppContext, userId: string) {
  const rows = await ctx.db.prisma.contactRequest.findMany({
    where: { OR: [{ fromUserId: userId }, { toUserId: userId }] },
    include: { fromUser: true, toUser: true },
    orderBy: { createdAt: 'desc' },
  });
  const all = rows.map((r) => presentRequest(r, userId));
  return {
    incoming: all.filter((r) => r.direction === 'incoming'),
    outgoing: all.filter((r) => r.direction === 'outgoing'),
  };
}

export async function requestContact(
  ctx: AppContext,
  userId: string,
  targetId: string,
): Promise<{ created: boolean; request: ContactRequest | null; contact: Contact | null }> {
  if (targetId === userId) {
    throw new AppError('VALIDATION_ERROR', 'You cannot add yourself.', [
      { path: 'userId', message: 'Pick someone other than yourself.', location: 'body' },
    ]);
  }
  const target = await ctx.db.prisma.user.findUnique({ where: { id: targetId }, select: { id: true } });
  if (!target) throw new AppError('NOT_FOUND');
  await refuseIfBlocked(ctx.db.prisma, userId, targetId);
  const already = await ctx.db.prisma.contact.findUnique({
    where: { userId_contactId: { userId, contactId: targetId } },
  });
  if (already) throw new AppError('ALREADY_CONTACTS');

  // They asked first: this is a yes.
  const theirs = await ctx.db.prisma.contactRequest.findUnique({
    where: { fromUserId_toUserId: { fromUserId: targetId, toUserId: userId } },
  });
  if (theirs) {
    return { created: false, request: null, contact: await acceptRequest(ctx, userId, theirs.id) };
  }
  const existing = await ctx.db.prisma.contactRequest.findUnique({
    where: { fromUserId_toUserId: { fromUserId: userId, toUserId: targetId } },
    include: { fromUser: true, toUser: true },
  });
  if (existing) return { created: false, request: presentRequest(existing, userId), contact: null };
  const row = await inTransaction(ctx, async (tx, emit) => {
    const row = await tx.contactRequest.create({
      data: { id: randomUUID(), fromUserId: userId, toUserId: targetId, createdAt: ctx.now() },
      include: { fromUser: true, toUser: true },
    });
    emit.toUsers([userId], { type: 'contact:request', data: { request: presentRequest(row, userId) } });
    emit.toUsers([targetId], { type: 'contact:request', data: { request: presentRequest(row, targetId) } });
    return row;
  });
  return { created: true, request: presentRequest(row, userId), contact: null };
}

/** Only the person asked may accept. */
export async function acceptRequest(ctx: AppContext, userId: string, requestId: string): Promise<Contact> {
  const now = ctx.now();
  return inTransaction(ctx, async (tx, emit) => {
    const request = await tx.contactRequest.findFirst({
      where: { id: requestId, OR: [{ toUserId: userId }, { fromUserId: userId }] },
    });
    if (!request) throw new AppError('NOT_FOUND');
    if (request.toUserId !== userId) throw new AppError('FORBIDDEN', 'Only the person you asked can accept.');
    await tx.contactRequest.delete({ where: { id: requestId } });
    // A request the other way (both asked) is answered by the same yes.
    await tx.contactRequest.deleteMany({ where: { fromUserId: userId, toUserId: request.fromUserId } });
    await tx.contact.createMany({
      data: [
        { userId, contactId: request.fromUserId, createdAt: now },
        { userId: request.fromUserId, contactId: userId, createdAt: now },
      ],
      skipDuplicates: true,
    });
    const otherId = request.fromUserId;
    await acceptRequestsBetween(tx, emit, userId, otherId);
    emit.toUsers([userId, otherId], { type: 'contact:request_removed', data: { requestId } });
    const [mine] = await presentContacts(ctx, userId, [otherId], tx);
    const [theirs] = await presentContacts(ctx, otherId, [userId], tx);
    emit.toUsers([userId], { type: 'contact:added', data: { contact: mine! } });
    emit.toUsers([otherId], { type: 'contact:added', data: { contact: theirs! } });
    return mine!;
  });
}

/** Rejecting (the person asked) and cancelling (the asker) are the same delete. */
export async function dismissRequest(ctx: AppContext, userId: string, requestId: string): Promise<void> {
  await inTransaction(ctx, async (tx, emit) => {
    const request = await tx.contactRequest.findFirst({
      where: { id: requestId, OR: [{ toUserId: userId }, { fromUserId: userId }] },
    });
    if (!request) throw new AppError('NOT_FOUND');
    await tx.contactRequest.deleteMany({ where: { id: requestId } });
    emit.toUsers([request.fromUserId, request.toUserId], {
      type: 'contact:request_removed',
      data: { requestId },
    });
  });
}
