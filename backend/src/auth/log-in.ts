/**
 * Sign in with username or email. A wrong username and a wrong password answer the same
 * 401. After LOGIN_MAX_FAILURES failures for one account from one address within
 * LOGIN_WINDOW_SECONDS, further attempts get 429 with Retry-After, correct password or not.
 */
import type { z } from 'zod';
import type { loginSchema } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { openSession, type DeviceInfo, type IssuedTokens } from './issue-session.js';
import { burnPasswordCheck, verifyPassword } from './passwords.js';

export type LoginInput = z.output<typeof loginSchema>;

export async function logIn(ctx: AppContext, input: LoginInput, device: DeviceInfo): Promise<IssuedTokens> {
  const login = input.login.toLowerCase();
  const user = await ctx.db.prisma.user.findFirst({
    where: login.includes('@') ? { email: login } : { username: login },
  });
  // Keyed by account (or by the name tried, when there is no such account) and address.
  const limitKey = `${user?.id ?? `unknown:${login}`}|${device.ip ?? ''}`;
  const blockedFor = await ctx.loginFailures.blockedFor(limitKey);
  if (blockedFor > 0) throw tooMany(blockedFor);

  const ok = user
    ? await verifyPassword(user.passwordHash, input.password)
    : (await burnPasswordCheck(input.password), false);
  if (!user || !ok) {
    await ctx.loginFailures.fail(limitKey);
    throw new AppError('INVALID_CREDENTIALS');
  }
  await ctx.loginFailures.reset(limitKey);
  return ctx.db.prisma.$transaction((tx) =>
    openSession(ctx, tx, user, {
      ...device,
      deviceName: input.deviceName ?? device.deviceName,
      platform: input.platform ?? device.platform,
    }),
  );
}

function tooMany(seconds: number): AppError {
  return new AppError(
    'TOO_MANY_LOGIN_ATTEMPTS',
    `Too many failed sign-in attempts. Try again in ${Math.ceil(seconds / 60)} minute(s).`,
    { retryAfterSeconds: seconds },
    { 'retry-after': String(seconds) },
  );
}
