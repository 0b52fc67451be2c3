/** A one-time invite code for REGISTRATION=invite; only its hash is kept. */
import { randomUUID } from 'node:crypto';
import type { Invite } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { hashRefreshToken, newRefreshToken } from '../auth/tokens.js';

export async function createInvite(
  ctx: AppContext,
  adminId: string,
  expiresInHours: number,
): Promise<Invite> {
  const code = newRefreshToken(); // 32 random bytes, base64url
  const now = ctx.now();
  const expiresAt = new Date(now.getTime() + expiresInHours * 3_600_000);
  await ctx.db.prisma.invite.create({
    data: {
      id: randomUUID(),
      codeHash: hashRefreshToken(code),
      createdBy: adminId,
      createdAt: now,
      expiresAt,
    },
  });
  return { code, expiresAt: expiresAt.toISOString() };
}
