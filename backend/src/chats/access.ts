/**
 * Who may see a chat: its members, nobody else. Every read and every event recipient list
 * goes through these functions, so "not a member" and "no such chat" are the same 404.
 */
import type { MemberRole } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Prisma, PrismaClient } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';

/** The client or an open transaction. */
export type Db = PrismaClient | Prisma.TransactionClient;

export type Membership = Prisma.ChatMemberGetPayload<{ include: { chat: true } }>;

/** The caller's membership with its chat, or 404. */
export async function requireMembership(db: Db, chatId: string, userId: string): Promise<Membership> {
  const membership = await db.chatMember.findUnique({
    where: { chatId_userId: { chatId, userId } },
    include: { chat: true },
  });
  if (!membership) throw new AppError('NOT_FOUND');
  return membership;
}

/**
 * Takes the chat row's lock for the rest of the transaction, so membership changes from
 * several server nodes (add, remove, leave, roles) happen one after another: two adds
 * cannot both see 299 members, the last two leavers cannot both think someone stays.
 */
export async function lockChat(tx: Prisma.TransactionClient, chatId: string): Promise<void> {
  await tx.$queryRaw`SELECT id FROM chats WHERE id = ${chatId}::uuid FOR UPDATE`;
}

/** Group-only operations on a direct chat. */
export function requireGroup(membership: Membership): void {
  if (membership.chat.kind !== 'group') throw new AppError('NOT_A_GROUP');
}

const rank: Record<MemberRole, number> = { member: 0, admin: 1, owner: 2 };

export function hasRole(membership: { role: string }, atLeast: MemberRole): boolean {
  return rank[membership.role as MemberRole] >= rank[atLeast];
}

export function requireRole(membership: Membership, atLeast: MemberRole): void {
  if (!hasRole(membership, atLeast)) throw new AppError('FORBIDDEN');
}

/**
 * The start of every group change: lock the chat row, then require the caller to be a
 * member of this group with at least `role`.
 */
export async function requireGroupRole(
  tx: Prisma.TransactionClient,
  chatId: string,
  userId: string,
  role: MemberRole,
): Promise<Membership> {
  await lockChat(tx, chatId);
  const me = await requireMembership(tx, chatId, userId);
  requireGroup(me);
  requireRole(me, role);
  return me;
}

/**
 * Who may see the user's presence: everyone who shares a chat with them or is their
 * contact, except people on either side of a block.
 */
export async function presenceAudience(ctx: AppContext, userId: string): Promise<string[]> {
  // Asked at every first connect and last disconnect (a reconnect storm is thousands).
  const rows = await ctx.db.sql<{ user_id: string }>(PRESENCE_AUDIENCE, [userId]);
  return rows.map((r) => r.user_id);
}

/** Planned at each run (no name): joins whose best plan depends on how big the tables are now. */
const PRESENCE_AUDIENCE = {
  text: `SELECT DISTINCT u.user_id::text AS user_id FROM (
      SELECT other.user_id
      FROM chat_members mine
      JOIN chat_members other ON other.chat_id = mine.chat_id
      WHERE mine.user_id = $1::uuid AND other.user_id <> $1::uuid
      UNION
      SELECT contact_id FROM contacts WHERE user_id = $1::uuid
    ) u
    WHERE NOT EXISTS (
      SELECT 1 FROM blocks b
      WHERE (b.blocker_id = $1::uuid AND b.blocked_id = u.user_id)
         OR (b.blocker_id = u.user_id AND b.blocked_id = $1::uuid)
    )`,
};
