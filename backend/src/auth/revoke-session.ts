import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';

export type RevokeReason = 'logout' | 'revoked' | 'password_change' | 'refresh_reuse';

/** Signs out one of the user's own sessions; someone else's or an unknown id is 404. */
export async function revokeSession(
  ctx: AppContext,
  userId: string,
  sessionId: string,
  reason: RevokeReason,
): Promise<void> {
  const { count } = await ctx.db.prisma.session.updateMany({
    where: { id: sessionId, userId, revokedAt: null },
    data: { revokedAt: ctx.now(), revokeReason: reason },
  });
  if (count === 0) throw new AppError('NOT_FOUND');
  // The session's open sockets close too (1008), not just its next request.
  await ctx.events.closeSessions([sessionId]);
}

/** Signs out every session of the user except `keepSessionId`. */
export async function revokeOtherSessions(
  ctx: AppContext,
  userId: string,
  keepSessionId: string,
  reason: RevokeReason,
): Promise<number> {
  const where = { userId, revokedAt: null, id: { not: keepSessionId } };
  const live = await ctx.db.prisma.session.findMany({ where, select: { id: true } });
  const { count } = await ctx.db.prisma.session.updateMany({
    where: { ...where, id: { in: live.map((s) => s.id) } },
    data: { revokedAt: ctx.now(), revokeReason: reason },
  });
  // Sessions created between the two statements were never live before the change.
  await ctx.events.closeSessions(live.map((s) => s.id));
  return count;
}
