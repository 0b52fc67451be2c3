/**
 * Moves a member's read position forward (never back) and tells the chat, so senders
 * see "read" and the reader's other devices clear their unread badge.
 */
import type { AppContext } from '../app-context.js';
import { requireMembership } from '../chats/access.js';
import { requireMemberFor } from '../chats/chat-rules.js';
import { inTransaction } from '../events/outbox.js';

export async function markRead(
  ctx: AppContext,
  userId: string,
  chatId: string,
  upToSeq: number,
): Promise<{ chatId: string; lastReadSeq: number; unreadCount: number }> {
  const db = ctx.db.prisma;
  // Membership only: a block or a rejection does not stop you reading (chat-rules.ts).
  const me = await requireMemberFor(db, { userId, chatId, action: 'mark-read' });
  const target = Math.min(upToSeq, me.chat.lastSeq);
  let lastReadSeq = me.lastReadSeq;
  if (target > me.lastReadSeq) {
    const moved = await inTransaction(ctx, async (tx, emit) => {
      const rows = await tx.$queryRaw<{ last_read_seq: number }[]>`
        UPDATE chat_members
        SET last_read_seq = GREATEST(last_read_seq, ${target})
        WHERE chat_id = ${chatId}::uuid AND user_id = ${userId}::uuid AND last_read_seq < ${target}
        RETURNING last_read_seq`;
      const row = rows[0];
      if (row)
        emit.toChat(chatId, { type: 'message:read', data: { chatId, userId, upToSeq: row.last_read_seq } });
      return row;
    });
    if (moved) {
      lastReadSeq = moved.last_read_seq;
    } else {
      lastReadSeq = (await requireMembership(db, chatId, userId)).lastReadSeq;
    }
  }
  const [unread] = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM messages u
    WHERE u.chat_id = ${chatId}::uuid AND u.seq > ${Math.max(lastReadSeq, me.clearedSeq)}
      AND u.kind = 'text' AND u.deleted_at IS NULL AND u.sender_id <> ${userId}::uuid
      AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = u.id AND h.user_id = ${userId}::uuid)`;
  return { chatId, lastReadSeq, unreadCount: unread?.n ?? 0 };
}
