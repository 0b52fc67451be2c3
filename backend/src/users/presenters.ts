// Rows → contract shapes. Never hand a Prisma row to the wire.
import type { Availability, PublicUser, SelfUser } from '@parley/contracts';
import type { User } from '../infra/db/generated/client.js';

export function toPublicUser(user: User): PublicUser {
  return {
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    statusText: user.statusText,
    availability: user.availability as Availability,
    createdAt: user.createdAt.toISOString(),
  };
}

export function toSelfUser(user: User): SelfUser {
  return { ...toPublicUser(user), email: user.email };
}
