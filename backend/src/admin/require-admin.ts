/** Administration routes: the caller must be signed in and an administrator (403 otherwise). */
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { authenticate, type Identity } from '../auth/authenticate.js';
import { AppError } from '../infra/errors.js';

export async function requireAdmin(ctx: AppContext, request: FastifyRequest): Promise<Identity> {
  const me = await authenticate(ctx, request);
  const user = await ctx.db.prisma.user.findUnique({ where: { id: me.userId }, select: { isAdmin: true } });
  if (!user?.isAdmin) throw new AppError('FORBIDDEN');
  return me;
}
