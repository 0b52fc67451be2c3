/** The contact list: people who accepted each other, with online status. */
import type { Contact } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Db } from '../chats/access.js';
import { inTransaction } from '../events/outbox.js';
import { AppError } from '../infra/errors.js';
import { toPublicUser } from '../users/presenters.js';

/** The viewer's contacts (all, or just `onlyIds`), newest first. */
export async function presentContacts(
  ctx: AppContext,
  viewerId: string,
  onlyIds?: string[],
  db: Db = ctx.db.prisma,
): Promise<Contact[]> {
  const rows = await db.contact.findMany({
    where: { userId: viewerId, ...(onlyIds ? { contactId: { in: onlyIds } } : {}) },
    include: { contact: true },
    orderBy: { createdAt: 'desc' },
  });
  const online = await ctx.presence.onlineAmong(rows.map((r) => r.contactId));
  return rows.map((r) => ({
    user: toPublicUser(r.contact),
    online: online.has(r.contactId),
    lastSeenAt: r.contact.lastSeenAt?.toISOString() ?? null,
    since: r.createdAt.toISOString(),
  }));
}

/** Either side may end it; both sides hear contact:removed. */
export async function removeContact(ctx: AppContext, userId: string, otherId: string): Promise<void> {
  await inTransaction(ctx, async (tx, emit) => {
    const { count } = await tx.contact.deleteMany({
      where: {
        OR: [
          { userId, contactId: otherId },
          { userId: otherId, contactId: userId },
        ],
      },
    });
    if (count === 0) throw new AppError('NOT_FOUND');
    emit.toUsers([userId], { type: 'contact:removed', data: { userId: otherId } });
    emit.toUsers([otherId], { type: 'contact:removed', data: { userId } });
  });
}
