/**
 * Exchanges a refresh token for a new pair. Each token works once: the exchange marks it
 * rotated in the same transaction that issues its successor. Showing a rotated token again
 * means it was copied, so the whole device session is revoked — except within
 * REFRESH_REUSE_GRACE_SECONDS of the rotation, while its successor is unused: then it is two
 * tabs (or a retry after a lost answer) refreshing at once, and they get the same successor
 * (derived from the token with the server's key, so any node answers the same).
 */
import type { AppContext } from '../app-context.js';
import type { Prisma, Session, User } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { toSelfUser } from '../users/presenters.js';
import { mintTokens, type IssuedTokens } from './issue-session.js';
import { hashRefreshToken, signAccessToken, successorRefreshToken } from './tokens.js';

type Outcome =
  | { kind: 'issued'; tokens: IssuedTokens }
  | { kind: 'reused'; sessionId: string }
  | { kind: 'error'; code: 'REFRESH_TOKEN_INVALID' | 'SESSION_REVOKED' };

export async function refreshSession(ctx: AppContext, refreshToken: string): Promise<IssuedTokens> {
  const now = ctx.now();
  const tokenHash = hashRefreshToken(refreshToken);
  const successor = successorRefreshToken(ctx.config.jwt.secret, refreshToken);
  const outcome = await ctx.db.prisma.$transaction(async (tx): Promise<Outcome> => {
    const stored = await tx.refreshToken.findUnique({
      where: { tokenHash },
      include: { session: { include: { user: true } } },
    });
    if (!stored) return { kind: 'error', code: 'REFRESH_TOKEN_INVALID' };
    const { session } = stored;
    if (session.revokedAt || session.expiresAt <= now || session.user.deactivatedAt)
      return { kind: 'error', code: 'SESSION_REVOKED' };
    // Conditional update: of two requests racing with the same token, exactly one wins (the
    // other waits for the winner's commit, then finds the token rotated).
    const claimed = stored.rotatedAt
      ? 0
      : (
          await tx.refreshToken.updateMany({
            where: { id: stored.id, rotatedAt: null },
            data: { rotatedAt: now },
          })
        ).count;
    if (claimed === 0) return (await withinGrace(ctx, tx, tokenHash, successor, session)) ?? reused(session);
    if (stored.expiresAt <= now) return { kind: 'error', code: 'REFRESH_TOKEN_INVALID' };
    await tx.session.update({ where: { id: session.id }, data: { lastActiveAt: now } });
    return { kind: 'issued', tokens: await mintTokens(ctx, tx, session.user, session, successor) };
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

function reused(session: Session): Outcome {
  return { kind: 'reused', sessionId: session.id };
}

/**
 * A rotated token shown again: the same successor if the rotation is recent and the
 * successor is still unused and valid; undefined (reuse) otherwise.
 */
async function withinGrace(
  ctx: AppContext,
  tx: Prisma.TransactionClient,
  tokenHash: string,
  successor: string,
  session: Session & { user: User },
): Promise<Outcome | undefined> {
  const now = ctx.now();
  const graceMs = ctx.config.refreshReuseGraceMs;
  if (graceMs <= 0) return undefined;
  // Read again: a racing request may have rotated it after this one read it.
  const rotated = await tx.refreshToken.findUnique({ where: { tokenHash }, select: { rotatedAt: true } });
  if (!rotated?.rotatedAt || now.getTime() - rotated.rotatedAt.getTime() > graceMs) return undefined;
  const next = await tx.refreshToken.findUnique({ where: { tokenHash: hashRefreshToken(successor) } });
  if (!next || next.sessionId !== session.id || next.rotatedAt || next.expiresAt <= now) return undefined;
  const access = await signAccessToken(
    ctx.config.jwt,
    { userId: session.user.id, sessionId: session.id },
    now,
  );
  return {
    kind: 'issued',
    tokens: {
      refreshToken: successor,
      result: {
        user: toSelfUser(session.user),
        sessionId: session.id,
        accessToken: access.token,
        accessTokenExpiresAt: access.expiresAt.toISOString(),
        refreshTokenExpiresAt: next.expiresAt.toISOString(),
      },
    },
  };
}
