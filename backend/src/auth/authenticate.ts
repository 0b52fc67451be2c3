/**
 * Who is calling: verifies the bearer access token and that its device session is still
 * live (not revoked, not past its absolute lifetime), so a revoked session stops working
 * at once rather than when its access token runs out.
 */
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { AppError, rateLimited } from '../infra/errors.js';
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

export async function authenticateToken(
  ctx: AppContext,
  token: string | undefined,
  /** Runs once the token is known to be genuine, before the database is asked about its session. */
  admit?: (claims: AccessClaims) => Promise<void>,
): Promise<Identity> {
  if (!token) throw new AppError('UNAUTHENTICATED');
  const claims = await verifyAccessToken(ctx.config.jwt, token);
  await admit?.(claims);
  // Every request and every socket asks this: one prepared statement, not an ORM query.
  const [session] = await ctx.db.sql<{
    user_id: string;
    revoked_at: Date | null;
    expires_at: Date;
    last_active_at: Date;
  }>(SESSION_STATE, [claims.sessionId]);
  const now = new Date();
  if (!session || session.user_id !== claims.userId) throw new AppError('TOKEN_INVALID');
  if (session.revoked_at || new Date(session.expires_at) <= now) throw new AppError('SESSION_REVOKED');
  if (now.getTime() - new Date(session.last_active_at).getTime() > TOUCH_INTERVAL_MS) {
    await ctx.db.sql(TOUCH_SESSION, [claims.sessionId, now]);
  }
  return claims;
}

const SESSION_STATE = {
  name: 'auth-session',
  text: `SELECT user_id::text AS user_id, revoked_at, expires_at, last_active_at FROM sessions WHERE id = $1::uuid`,
};

const TOUCH_SESSION = {
  name: 'auth-touch-session',
  text: `UPDATE sessions SET last_active_at = $2 WHERE id = $1::uuid`,
};

/**
 * The caller, who must also have allowance left: REST reads share one per user, and each
 * write route has its own (infra/budgets.ts).
 */
const SEND_ROUTE = 'POST /api/chats/:chatId/messages';

export function authenticate(ctx: AppContext, request: FastifyRequest): Promise<Identity> {
  // Taken before the session is looked up: a request over its allowance costs no query.
  return authenticateToken(ctx, bearerToken(request), async ({ userId }) => {
    const reading = request.method === 'GET' || request.method === 'HEAD';
    const route = `${request.method} ${request.routeOptions.url ?? ''}`;
    // Sends have their own limiter (SEND_RATE_PER_SECOND), over REST as over WebSocket.
    if (route === SEND_ROUTE) return;
    const allowance = reading ? await ctx.budgets.read(userId) : await ctx.budgets.command(userId, route);
    if (!allowance.ok) throw rateLimited(allowance.retryAfterMs);
  });
}
