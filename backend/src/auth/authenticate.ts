/**
 * Who is calling: verifies the bearer access token and that its device session is still
 * live (not revoked, not past its absolute lifetime), so a revoked session stops working
 * at once rather than when its access token runs out.
 */
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { verifyAccessToken, type AccessClaims } from './tokens.js';

export type Identity = AccessClaims;

// Touching last_active_at on every request would write on every read; once a minute is
// plenty for "last active".
const TOUCH_INTERVAL_MS = 60_000;

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const [scheme, token] = header.split(' ');
  return scheme?.toLowerCase() === 'bearer' && token ? token.trim() : undefined;
}

export async function authenticateToken(ctx: AppContext, token: string | undefined): Promise<Identity> {
  if (!token) throw new AppError('UNAUTHENTICATED');
  const claims = await verifyAccessToken(ctx.config.jwt, token);
  const session = await ctx.db.prisma.session.findUnique({
    where: { id: claims.sessionId },
    select: { userId: true, revokedAt: true, expiresAt: true, lastActiveAt: true },
  });
  const now = new Date();
  if (!session || session.userId !== claims.userId) throw new AppError('TOKEN_INVALID');
  if (session.revokedAt || session.expiresAt <= now) throw new AppError('SESSION_REVOKED');
  if (now.getTime() - session.lastActiveAt.getTime() > TOUCH_INTERVAL_MS) {
    await ctx.db.prisma.session.update({ where: { id: claims.sessionId }, data: { lastActiveAt: now } });
  }
  return claims;
}

export function authenticate(ctx: AppContext, request: FastifyRequest): Promise<Identity> {
  return authenticateToken(ctx, bearerToken(request));
}
