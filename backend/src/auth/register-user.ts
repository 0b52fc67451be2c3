import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { registerSchema } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { openSession, type DeviceInfo, type IssuedTokens } from './issue-session.js';
import { hashPassword } from './passwords.js';

export type RegisterInput = z.output<typeof registerSchema>;

export async function registerUser(
  ctx: AppContext,
  input: RegisterInput,
  device: DeviceInfo,
): Promise<IssuedTokens> {
  const username = input.username; // the contract allows lowercase only
  const email = input.email.toLowerCase();
  const taken = await ctx.db.prisma.user.findFirst({
    where: { OR: [{ username }, { email }] },
    select: { username: true },
  });
  if (taken) throw takenError(taken.username === username ? 'username' : 'email');

  const passwordHash = await hashPassword(input.password);
  const now = ctx.now();
  try {
    return await ctx.db.prisma.$transaction(async (tx) => {
      const user = await tx.user.create({
        data: {
          id: randomUUID(),
          username,
          email,
          passwordHash,
          displayName: input.displayName,
          createdAt: now,
          updatedAt: now,
        },
      });
      return openSession(ctx, tx, user, {
        ...device,
        deviceName: input.deviceName ?? device.deviceName,
        platform: input.platform ?? device.platform,
      });
    });
  } catch (err) {
    // Two registrations racing for one name: the unique index decides.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      const target = JSON.stringify(err.meta ?? {});
      throw takenError(target.includes('email') ? 'email' : 'username');
    }
    throw err;
  }
}

function takenError(field: 'username' | 'email'): AppError {
  return field === 'username'
    ? new AppError('USERNAME_TAKEN', undefined, [
        { path: 'username', message: 'That username is taken.', location: 'body' },
      ])
    : new AppError('EMAIL_TAKEN', undefined, [
        { path: 'email', message: 'An account with that email exists already.', location: 'body' },
      ]);
}
