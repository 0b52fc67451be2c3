/** Changes the password after checking the current one; signs out every other session. */
import type { AppContext } from '../app-context.js';
import { revokeOtherSessions } from '../auth/revoke-session.js';
import { AppError } from '../infra/errors.js';
import { getUser } from './get-user.js';

export async function changePassword(
  ctx: AppContext,
  identity: { userId: string; sessionId: string },
  currentPassword: string,
  newPassword: string,
): Promise<void> {
  const user = await getUser(ctx, identity.userId);
  if (!(await ctx.passwords.verify(user.passwordHash, currentPassword)))
    throw new AppError('WRONG_CURRENT_PASSWORD', undefined, [
      { path: 'currentPassword', message: 'The current password is wrong.', location: 'body' },
    ]);
  const passwordHash = await ctx.passwords.hash(newPassword);
  await ctx.db.prisma.user.update({ where: { id: user.id }, data: { passwordHash, updatedAt: ctx.now() } });
  await revokeOtherSessions(ctx, user.id, identity.sessionId, 'password_change');
}
