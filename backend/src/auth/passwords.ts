// Password hashing: argon2id from @node-rs/argon2 with its defaults (19 MiB, t=2, p=1).
import { hash, verify } from '@node-rs/argon2';

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

// Verifying against this when the account doesn't exist keeps "no such user" and "wrong
// password" equally slow, so timing doesn't reveal which usernames exist.
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hash('parley-timing-equaliser');
  await verifyPassword(await dummyHash, password);
}
