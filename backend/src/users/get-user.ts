import type { AppContext } from '../app-context.js';
import type { User } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';

export async function getUser(ctx: AppContext, id: string): Promise<User> {
  const user = await ctx.db.prisma.user.findUnique({ where: { id } });
  if (!user) throw new AppError('NOT_FOUND');
  return user;
}
