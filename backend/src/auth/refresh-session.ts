/**
 * Exchanges a refresh token for a new pair. Each token works once: the exchange marks it
 * rotated in the same transaction that issues its successor. Showing a rotated token
 * again means it was copied, so the whole device session is revoked.
 */
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { mintTokens, type IssuedTokens } from './issue-session.js';
import { hashRefreshToken } from './tokens.js';

export async function refreshSession(ctx: AppContext, refreshToken: string): Promise<IssuedTokens> {
  const now = ctx.now();
  const outcome = await ctx.db.prisma.$transaction(async (tx) => {
    const stored = await tx.refreshToken.findUnique({
      where: { tokenHash: hashRefreshToken(refreshToken) },
      include: { session: { include: { user: true } } },
    });
    if (!stored) return { kind: 'error' as const, code: 'REFRESH_TOKEN_INVALID' as const };
    const { session } = stored;
    if (session.revokedAt || session.expiresAt <= now)
      return { kind: 'error' as const, code: 'SESSION_REVOKED' as const };
    // Conditional update: of two requests racing with the same token, exactly one wins.
    const claimed = stored.rotatedAt
      ? 0
      : (
          await tx.refreshToken.updateMany({
            where: { id: stored.id, rotatedAt: null },
            data: { rotatedAt: now },
          })
        ).count;
    if (claimed === 0) return { kind: 'reused' as const, sessionId: session.id };
    if (stored.expiresAt <= now) return { kind: 'error' as const, code: 'REFRESH_TOKEN_INVALID' as const };
    await tx.session.update({ where: { id: session.id }, data: { lastActiveAt: now } });
    return { kind: 'issued' as const, tokens: await mintTokens(ctx, tx, session.user, session) };
  });
  if (outcome.kind === 'issued') return outcome.tokens;
  if (outcome.kind === 'reused') {
    // Outside the transaction above, so the revocation is not rolled back with it.
    await ctx.db.prisma.session.updateMany({
      where: { id: outcome.sessionId, revokedAt: null },
      data: { revokedAt: now, revokeReason: 'refresh_reuse' },
    });
    await ctx.events.closeSessions([outcome.sessionId]);
    throw new AppError('REFRESH_TOKEN_REUSED');
  }
  throw new AppError(outcome.code);
}
