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

/**
 * Tokens verified lately, per server's key settings: a client presenting the same token
 * again (each request of a page, a socket reconnecting — or one reconnecting in a loop)
 * costs a map look-up instead of a second HMAC. Only tokens that verified are kept, each
 * until its `exp`, at most VERIFIED_MAX per key (the oldest go first). Revocation is not
 * the token's business: the session check (authenticate.ts) runs on every use regardless.
 */
const VERIFIED_MAX = 10_000;
const verified = new WeakMap<Config['jwt'], Map<string, { claims: AccessClaims; expMs: number }>>();

/** Throws TOKEN_INVALID for anything but a valid, unexpired token of ours. */
export async function verifyAccessToken(
  jwt: Config['jwt'],
  token: string,
  now = new Date(),
): Promise<AccessClaims> {
  let known = verified.get(jwt);
  const hit = known?.get(token);
  if (hit && now.getTime() < hit.expMs) return hit.claims;
  try {
    const { payload } = await jwtVerify(token, jwt.secret, {
      algorithms: [ALGORITHM],
      issuer: jwt.issuer,
      audience: jwt.audience,
      requiredClaims: ['sub', 'exp', 'iat'],
      currentDate: now,
    });
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
      throw new Error('missing sub or sid');
    }
    const claims = { userId: payload.sub, sessionId: payload.sid };
    if (!known) verified.set(jwt, (known = new Map()));
    if (known.size >= VERIFIED_MAX) known.delete(known.keys().next().value!);
    known.set(token, { claims, expMs: payload.exp! * 1000 });
    return claims;
  } catch {
    known?.delete(token);
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
