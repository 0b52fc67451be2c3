/**
 * Access tokens: HS256 JWTs, 15 minutes by default, verified against an algorithm
 * allowlist, issuer and audience. Refresh tokens: 32 random bytes, opaque to the client,
 * stored only as a SHA-256 hash.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import type { Config } from '../infra/config.js';
import { AppError } from '../infra/errors.js';

export interface AccessClaims {
  userId: string;
  sessionId: string;
}

export interface AccessToken {
  token: string;
  expiresAt: Date;
}

const ALGORITHM = 'HS256';

export async function signAccessToken(
  jwt: Config['jwt'],
  claims: AccessClaims,
  now = new Date(),
): Promise<AccessToken> {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + jwt.accessTtlSeconds;
  const token = await new SignJWT({ sid: claims.sessionId })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(jwt.issuer)
    .setAudience(jwt.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(jwt.secret);
  return { token, expiresAt: new Date(exp * 1000) };
}

/** Throws TOKEN_INVALID for anything but a valid, unexpired token of ours. */
export async function verifyAccessToken(jwt: Config['jwt'], token: string): Promise<AccessClaims> {
  try {
    const { payload } = await jwtVerify(token, jwt.secret, {
      algorithms: [ALGORITHM],
      issuer: jwt.issuer,
      audience: jwt.audience,
      requiredClaims: ['sub', 'exp', 'iat'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
      throw new Error('missing sub or sid');
    }
    return { userId: payload.sub, sessionId: payload.sid };
  } catch {
    throw new AppError('TOKEN_INVALID');
  }
}

export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The token that replaces `token` when it is exchanged: derived with the server's key, so
 * every node computes the same successor and a second exchange within the grace window can
 * answer with it without any raw token being stored.
 */
export function successorRefreshToken(secret: Uint8Array, token: string): string {
  return createHmac('sha256', secret).update(`parley-refresh-successor:${token}`, 'utf8').digest('base64url');
}
