import type { UpdateProfile } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { User } from '../infra/db/generated/client.js';

export async function updateProfile(ctx: AppContext, userId: string, changes: UpdateProfile): Promise<User> {
  const user = await ctx.db.prisma.user.update({
    where: { id: userId },
    data: {
      ...(changes.displayName !== undefined && { displayName: changes.displayName }),
      ...(changes.statusText !== undefined && { statusText: changes.statusText }),
      ...(changes.availability !== undefined && { availability: changes.availability }),
      updatedAt: ctx.now(),
    },
  });
  // Names are cached on every node (sent with each message): they forget this one.
  await ctx.bus.publish({ kind: 'invalidate', userIds: [userId] });
  return user;
}
