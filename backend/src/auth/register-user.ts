/**
 * Self-service sign-up, as the REGISTRATION policy allows: `open` to anyone, `invite` with
 * a one-time code from an administrator, `closed` not at all (administrators create
 * accounts). Whatever the policy, the first account of an installation may register and
 * becomes its administrator. Every attempt from one address counts against
 * REGISTER_ADDRESS_MAX per REGISTER_ADDRESS_WINDOW_SECONDS, before any work is done.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { registerSchema } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { Prisma, type User } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { addressKey, isLoopback } from '../infra/rate-limit.js';
import { openSession, type DeviceInfo, type IssuedTokens } from './issue-session.js';
import { hashRefreshToken } from './tokens.js';

export type RegisterInput = z.output<typeof registerSchema>;
type Tx = Prisma.TransactionClient;

export async function registerUser(
  ctx: AppContext,
  input: RegisterInput,
  device: DeviceInfo,
): Promise<IssuedTokens> {
  const exempt = ctx.config.addressLimitsExemptLoopback && isLoopback(device.ip);
  const wait = exempt ? 0 : await ctx.registrations.reserve(addressKey(device.ip));
  if (wait > 0)
    throw new AppError(
      'RATE_LIMITED',
      'Too many sign-ups from this address. Try again later.',
      { retryAfterMs: wait * 1000 },
      { 'retry-after': String(wait) },
    );
  const policy = ctx.config.registration.policy;
  // Nobody yet: this is the installation's first account, its administrator.
  const maybeFirst = !(await ctx.db.prisma.user.findFirst({ select: { id: true } }));
  if (!maybeFirst && policy === 'closed') throw new AppError('REGISTRATION_CLOSED');
  if (!maybeFirst && policy === 'invite' && !input.inviteCode) throw inviteInvalid();

  const created = await createUser(
    ctx,
    input,
    async (tx) => {
      if (!maybeFirst) return { isAdmin: false };
      // Two first registrations at once: one becomes the administrator, the other is judged
      // by the policy like everyone after it.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('parley:first-user'))`;
      const first = !(await tx.user.findFirst({ select: { id: true } }));
      if (!first && policy === 'closed') throw new AppError('REGISTRATION_CLOSED');
      if (!first && policy === 'invite' && !input.inviteCode) throw inviteInvalid();
      return { isAdmin: first };
    },
    async (tx, user) => {
      if (user.isAdmin || policy !== 'invite' || !input.inviteCode) return;
      // One use per code: of two registrations racing with one code, one claims it.
      const claimed = await tx.invite.updateMany({
        where: { codeHash: hashRefreshToken(input.inviteCode), usedAt: null, expiresAt: { gt: ctx.now() } },
        data: { usedAt: ctx.now(), usedBy: user.id },
      });
      if (claimed.count === 0) throw inviteInvalid();
    },
    (tx, user) =>
      openSession(ctx, tx, user, {
        ...device,
        deviceName: input.deviceName ?? device.deviceName,
        platform: input.platform ?? device.platform,
      }),
  );
  return created;
}

/**
 * Inserts a user (username and email free, password hashed under the work limit) and runs
 * `then` in the same transaction. Shared by sign-up and administrators' account creation.
 */
export async function createUser<T>(
  ctx: AppContext,
  input: { username: string; email: string; password: string; displayName: string },
  decide: (tx: Tx) => Promise<{ isAdmin: boolean }>,
  check: (tx: Tx, user: User) => Promise<void>,
  then: (tx: Tx, user: User) => Promise<T>,
): Promise<T> {
  const username = input.username; // the contract allows lowercase only
  const email = input.email.toLowerCase();
  const taken = await ctx.db.prisma.user.findFirst({
    where: { OR: [{ username }, { email }] },
    select: { username: true },
  });
  if (taken) throw takenError(taken.username === username ? 'username' : 'email');

  const passwordHash = await ctx.passwords.hash(input.password);
  const now = ctx.now();
  try {
    return await ctx.db.prisma.$transaction(async (tx) => {
      const { isAdmin } = await decide(tx);
      const user = await tx.user.create({
        data: {
          id: randomUUID(),
          username,
          email,
          passwordHash,
          displayName: input.displayName,
          isAdmin,
          createdAt: now,
          updatedAt: now,
        },
      });
      await check(tx, user);
      return then(tx, user);
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

function inviteInvalid(): AppError {
  return new AppError('INVITE_INVALID', undefined, [
    {
      path: 'inviteCode',
      message: 'This invite code is not valid, was used already or has expired.',
      location: 'body',
    },
  ]);
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
