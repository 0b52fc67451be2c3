/**
 * Opens a device session for a user who just proved who they are, and mints its first
 * token pair. Also used by refresh to mint the next pair.
 */
import { randomUUID } from 'node:crypto';
import { type AuthResult, describeDevice } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Prisma, User } from '../infra/db/generated/client.js';
import { toSelfUser } from '../users/presenters.js';
import { hashRefreshToken, newRefreshToken, signAccessToken } from './tokens.js';

export interface DeviceInfo {
  deviceName?: string | undefined;
  platform?: string | undefined;
  userAgent?: string | undefined;
  ip?: string | undefined;
}

/** What the route layer needs to answer: the result and the raw refresh token to deliver. */
export interface IssuedTokens {
  result: Omit<AuthResult, 'refreshToken'>;
  refreshToken: string;
}

type Tx = Prisma.TransactionClient;

export async function openSession(
  ctx: AppContext,
  tx: Tx,
  user: User,
  device: DeviceInfo,
): Promise<IssuedTokens> {
  const now = ctx.now();
  const session = await tx.session.create({
    data: {
      id: randomUUID(),
      userId: user.id,
      deviceName: device.deviceName ?? describeDevice(device.userAgent),
      platform: device.platform ?? 'unknown',
      userAgent: (device.userAgent ?? '').slice(0, 512),
      ip: (device.ip ?? '').slice(0, 64),
      createdAt: now,
      lastActiveAt: now,
      expiresAt: new Date(now.getTime() + ctx.config.sessionMaxAgeMs),
    },
  });
  return mintTokens(ctx, tx, user, session);
}

export async function mintTokens(
  ctx: AppContext,
  tx: Tx,
  user: User,
  session: { id: string; expiresAt: Date },
  /** The refresh token to issue; a fresh random one unless refresh derives its successor. */
  refreshToken = newRefreshToken(),
): Promise<IssuedTokens> {
  const now = ctx.now();
  // A refresh token never outlives its session's absolute lifetime.
  const expiresAt = new Date(
    Math.min(now.getTime() + ctx.config.refreshTokenTtlMs, session.expiresAt.getTime()),
  );
  await tx.refreshToken.create({
    data: {
      id: randomUUID(),
      sessionId: session.id,
      tokenHash: hashRefreshToken(refreshToken),
      createdAt: now,
      expiresAt,
    },
  });
  const access = await signAccessToken(ctx.config.jwt, { userId: user.id, sessionId: session.id }, now);
  return {
    refreshToken,
    result: {
      user: toSelfUser(user),
      sessionId: session.id,
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt.toISOString(),
      refreshTokenExpiresAt: expiresAt.toISOString(),
    },
  };
}
