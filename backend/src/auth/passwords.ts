/**
 * Password hashing: argon2id from @node-rs/argon2 with its defaults (19 MiB, t=2, p=1).
 * Every hash and verification goes through one work limit (PASSWORD_HASH_CONCURRENCY at
 * once, a short bounded queue), so a flood of sign-ins or registrations cannot take the
 * thread pool from everyone else: beyond the queue they get a retryable 503.
 */
import { hash, verify } from '@node-rs/argon2';
import type { WorkLimit } from '../infra/work-limit.js';

export interface Passwords {
  hash(password: string): Promise<string>;
  verify(passwordHash: string, password: string): Promise<boolean>;
  /**
   * Verifying against a fixed hash when the account doesn't exist keeps "no such user" and
   * "wrong password" equally slow, so timing doesn't reveal which usernames exist.
   */
  burnCheck(password: string): Promise<void>;
}

async function verifyQuietly(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

export function createPasswords(limit: WorkLimit): Passwords {
  let dummyHash: Promise<string> | undefined;
  return {
    hash: (password) => limit.run(() => hash(password)),
    verify: (passwordHash, password) => limit.run(() => verifyQuietly(passwordHash, password)),
    async burnCheck(password) {
      dummyHash ??= hash('parley-timing-equaliser');
      const fixed = await dummyHash;
      await limit.run(() => verifyQuietly(fixed, password));
    },
  };
}
