/**
 * What the admin CLI does to accounts: create one (optionally an administrator), reset a
 * password, deactivate and reactivate. Deactivating revokes every session of the user in
 * the same transaction and then has the nodes close their sockets (1008); a deactivated
 * user cannot sign in (auth/log-in.ts) or refresh (auth/refresh-session.ts). A reset
 * password signs every session out the same way.
 */
import { adminCreateUserSchema, type AdminCreateUserInput } from '@parley/contracts';
import type { Passwords } from '../auth/passwords.js';
import { createUser } from '../auth/register-user.js';
import type { AppContext } from '../app-context.js';
import type { Config } from '../infra/config.js';
import type { Database } from '../infra/db/client.js';
import { AppError } from '../infra/errors.js';

/** What these operations need: a database, argon2, the clock, and a way to reach the nodes. */
export interface AdminContext {
  config: Config;
  db: Database;
  passwords: Passwords;
  now(): Date;
  /** Has every node close these sessions' sockets (1008). */
  closeSessions(sessionIds: readonly string[]): Promise<void>;
}

export interface AccountRow {
  id: string;
  username: string;
  email: string;
  displayName: string;
  isAdmin: boolean;
  deactivatedAt: Date | null;
  createdAt: Date;
}

export async function createAccount(ctx: AdminContext, input: AdminCreateUserInput): Promise<AccountRow> {
  const parsed = adminCreateUserSchema.safeParse(input);
  if (!parsed.success)
    throw new AppError(
      'VALIDATION_ERROR',
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  const { isAdmin } = parsed.data;
  // createUser asks only for the database, the password limit and the clock.
  const user = await createUser(
    ctx as unknown as AppContext,
    parsed.data,
    async () => ({ isAdmin }),
    async () => undefined,
    async (_tx, created) => created,
  );
  return toRow(user);
}

export async function findAccount(ctx: AdminContext, username: string): Promise<AccountRow> {
  const user = await ctx.db.prisma.user.findUnique({ where: { username: username.toLowerCase() } });
  if (!user) throw new AppError('NOT_FOUND', `There is no user ${username}.`);
  return toRow(user);
}

export async function listAccounts(ctx: AdminContext, limit: number): Promise<AccountRow[]> {
  const users = await ctx.db.prisma.user.findMany({ orderBy: { createdAt: 'asc' }, take: limit });
  return users.map(toRow);
}

/** Sets a new password (validated like a sign-up's) and signs every session out. */
export async function resetPassword(
  ctx: AdminContext,
  username: string,
  password: string,
): Promise<{ user: AccountRow; sessionsClosed: number }> {
  const check = adminCreateUserSchema.shape.password.safeParse(password);
  if (!check.success) throw new AppError('VALIDATION_ERROR', `password: ${check.error.issues[0]!.message}`);
  const user = await findAccount(ctx, username);
  const passwordHash = await ctx.passwords.hash(password);
  const sessionIds = await ctx.db.prisma.$transaction(async (tx) => {
    const now = ctx.now();
    await tx.user.update({ where: { id: user.id }, data: { passwordHash, updatedAt: now } });
    return revokeAll(tx, user.id, now, 'password_reset');
  });
  await ctx.closeSessions(sessionIds);
  return { user, sessionsClosed: sessionIds.length };
}

/**
 * Deactivates (or reactivates) an account. Deactivating takes the user's row lock first, so
 * a sign-in in progress either sees it or has its new session revoked here.
 */
export async function setActive(
  ctx: AdminContext,
  username: string,
  active: boolean,
): Promise<{ user: AccountRow; changed: boolean; sessionsClosed: number }> {
  const found = await findAccount(ctx, username);
  const { user, changed, sessionIds } = await ctx.db.prisma.$transaction(async (tx) => {
    const now = ctx.now();
    const updated = await tx.user.updateMany({
      where: { id: found.id, deactivatedAt: active ? { not: null } : null },
      data: { deactivatedAt: active ? null : now },
    });
    const sessionIds = active ? [] : await revokeAll(tx, found.id, now, 'deactivated');
    const user = await tx.user.findUniqueOrThrow({ where: { id: found.id } });
    return { user: toRow(user), changed: updated.count > 0, sessionIds };
  });
  if (sessionIds.length) await ctx.closeSessions(sessionIds);
  return { user, changed, sessionsClosed: sessionIds.length };
}

type Tx = Parameters<Parameters<Database['prisma']['$transaction']>[0]>[0];

async function revokeAll(tx: Tx, userId: string, now: Date, reason: string): Promise<string[]> {
  const live = await tx.session.findMany({ where: { userId, revokedAt: null }, select: { id: true } });
  await tx.session.updateMany({
    where: { id: { in: live.map((s) => s.id) } },
    data: { revokedAt: now, revokeReason: reason },
  });
  return live.map((s) => s.id);
}

function toRow(user: {
  id: string;
  username: string;
  email: string;
  displayName: string;
  isAdmin: boolean;
  deactivatedAt: Date | null;
  createdAt: Date;
}): AccountRow {
  const { id, username, email, displayName, isAdmin, deactivatedAt, createdAt } = user;
  return { id, username, email, displayName, isAdmin, deactivatedAt, createdAt };
}
