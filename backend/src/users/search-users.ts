/**
 * Prefix search on username or display name (case-insensitive), excluding the caller,
 * ordered by username and paged by an opaque cursor (the last username seen).
 */
import type { AppContext } from '../app-context.js';
import type { User } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';

export interface SearchPage {
  users: User[];
  nextCursor: string | null;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function searchUsers(
  ctx: AppContext,
  callerId: string,
  query: { q: string; limit: number; cursor?: string | undefined },
): Promise<SearchPage> {
  const after = query.cursor === undefined ? '' : decodeCursor(query.cursor);
  const pattern = `${escapeLike(query.q.toLowerCase())}%`;
  const rows = await ctx.db.prisma.$queryRaw<{ id: string }[]>`
    SELECT id FROM users
    WHERE id <> ${callerId}::uuid
      AND (username LIKE ${pattern} OR lower(display_name) LIKE ${pattern})
      AND username > ${after}
    ORDER BY username
    LIMIT ${query.limit + 1}`;
  const page = rows.slice(0, query.limit).map((r) => r.id);
  const users = await ctx.db.prisma.user.findMany({
    where: { id: { in: page } },
    orderBy: { username: 'asc' },
  });
  const last = users.at(-1);
  return {
    users,
    nextCursor: rows.length > query.limit && last ? Buffer.from(last.username).toString('base64url') : null,
  };
}

function decodeCursor(cursor: string): string {
  const value = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[a-z0-9_.]{1,32}$/.test(value)) {
    throw new AppError('VALIDATION_ERROR', undefined, [
      { path: 'cursor', message: 'Invalid cursor.', location: 'query' },
    ]);
  }
  return value;
}
