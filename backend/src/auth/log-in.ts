/**
 * Sign in with username or email. A wrong username and a wrong password answer the same
 * 401. Each attempt is counted *before* its password is checked (an atomic increment), so
 * parallel guesses cannot all slip under the limits:
 * - LOGIN_MAX_FAILURES failures for one account from one address within
 *   LOGIN_WINDOW_SECONDS, then 429 with Retry-After, correct password or not;
 * - LOGIN_ADDRESS_MAX_FAILURES failures from one address across all accounts (password
 *   spraying) within the same window, then 429 for every account from that address.
 * A success clears its account's count and gives back its address reservation.
 */
import type { z } from 'zod';
import type { loginSchema } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { addressKey, isLoopback, type FailureCounter } from '../infra/rate-limit.js';
import { openSession, type DeviceInfo, type IssuedTokens } from './issue-session.js';

export type LoginInput = z.output<typeof loginSchema>;

export async function logIn(ctx: AppContext, input: LoginInput, device: DeviceInfo): Promise<IssuedTokens> {
  const login = input.login.toLowerCase();
  const user = await ctx.db.prisma.user.findFirst({
    where: login.includes('@') ? { email: login } : { username: login },
  });
  const address = addressKey(device.ip);
  // Keyed by account (or by the name tried, when there is no such account) and address.
  const accountKey = `${user?.id ?? `unknown:${login}`}|${address}`;

  // Failures across accounts are counted per address, except a loopback client's (config).
  const addresses: FailureCounter | null =
    ctx.config.addressLimitsExemptLoopback && isLoopback(device.ip) ? null : ctx.loginAddressFailures;
  const addressWait = (await addresses?.reserve(address)) ?? 0;
  if (addressWait > 0) throw tooMany(addressWait);
  const accountWait = await ctx.loginFailures.reserve(accountKey);
  if (accountWait > 0) {
    await addresses?.release(address);
    throw tooMany(accountWait);
  }

  let ok: boolean;
  try {
    ok = user
      ? await ctx.passwords.verify(user.passwordHash, input.password)
      : (await ctx.passwords.burnCheck(input.password), false);
  } catch (err) {
    // Not checked (the server was too busy): no failure to count.
    await Promise.all([ctx.loginFailures.release(accountKey), addresses?.release(address)]);
    throw err;
  }
  if (!user || !ok) throw new AppError('INVALID_CREDENTIALS');
  await Promise.all([ctx.loginFailures.reset(accountKey), addresses?.release(address)]);
  return ctx.db.prisma.$transaction(async (tx) => {
    // Said only to whoever knows the password. The row lock orders this against a
    // deactivation in progress: either it sees the deactivation, or the deactivation
    // revokes the session opened here.
    const [state] = await tx.$queryRaw<{ deactivated_at: Date | null }[]>`
      SELECT deactivated_at FROM users WHERE id = ${user.id}::uuid FOR SHARE`;
    if (!state || state.deactivated_at) throw new AppError('ACCOUNT_DEACTIVATED');
    return openSession(ctx, tx, user, {
      ...device,
      deviceName: input.deviceName ?? device.deviceName,
      platform: input.platform ?? device.platform,
    });
  });
}

function tooMany(seconds: number): AppError {
  return new AppError(
    'TOO_MANY_LOGIN_ATTEMPTS',
    `Too many failed sign-in attempts. Try again in ${Math.ceil(seconds / 60)} minute(s).`,
    { retryAfterSeconds: seconds },
    { 'retry-after': String(seconds) },
  );
}
