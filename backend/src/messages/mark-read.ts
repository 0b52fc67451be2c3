/**
 * Moves a member's read position forward (never back) and tells the chat, so senders
 * see "read" and the reader's other devices clear their unread badge.
 *
 * One statement, like a send: the membership (the only rule reading has: a block or a
 * rejection does not stop you reading, chat-rules.ts), the move, the outbox row of the
 * `message:read` event and the unread count after it. A client may send many of these
 * (every scroll); as three or four statements through Prisma each held the embedded
 * database several milliseconds.
 */
import type { ServerEvent } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { assertMembershipOnly } from '../chats/chat-rules.js';
import { AppError } from '../infra/errors.js';

/** $1 chat, $2 user, $3 the seq read up to, $4 now, $5 the event, whose data.upToSeq the statement fills in. */
const MARK_READ = {
  name: 'mark-read',
  text: `
WITH me AS (
  SELECT m.last_read_seq, m.cleared_seq, LEAST($3::int, c.last_seq) AS target, c.members_version
  FROM chat_members m JOIN chats c ON c.id = m.chat_id
  WHERE m.chat_id = $1::uuid AND m.user_id = $2::uuid
),
moved AS (
  UPDATE chat_members cm SET last_read_seq = me.target
  FROM me
  WHERE cm.chat_id = $1::uuid AND cm.user_id = $2::uuid AND cm.last_read_seq < me.target
  RETURNING cm.last_read_seq
),
outboxed AS (
  INSERT INTO outbox (created_at, chat_id, payload)
  SELECT $4::timestamptz, $1::uuid, jsonb_set($5::jsonb, '{data,upToSeq}', to_jsonb(last_read_seq))
  FROM moved
  RETURNING id
),
position AS (
  SELECT COALESCE((SELECT last_read_seq FROM moved), me.last_read_seq) AS last_read_seq, me.cleared_seq,
    me.members_version
  FROM me
)
SELECT p.last_read_seq, p.members_version, (SELECT array_agg(id::text) FROM outboxed) AS outbox_ids,
  (SELECT count(*)::int FROM messages u
   WHERE u.chat_id = $1::uuid AND u.seq > GREATEST(p.last_read_seq, p.cleared_seq)
     AND u.kind = 'text' AND u.deleted_at IS NULL AND u.sender_id <> $2::uuid
     AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = u.id AND h.user_id = $2::uuid)
  ) AS unread
FROM position p`,
};

assertMembershipOnly('mark-read');

export async function markRead(
  ctx: AppContext,
  userId: string,
  chatId: string,
  upToSeq: number,
): Promise<{ chatId: string; lastReadSeq: number; unreadCount: number }> {
  const event = (seq: number): ServerEvent => ({
    type: 'message:read',
    data: { chatId, userId, upToSeq: seq },
  });
  const [row] = await ctx.db.sql<{
    last_read_seq: number;
    members_version: number;
    outbox_ids: string[] | null;
    unread: number;
  }>(MARK_READ, [chatId, userId, upToSeq, ctx.now(), JSON.stringify(event(0))]);
  if (!row) throw new AppError('NOT_FOUND');
  if (row.outbox_ids?.length) {
    await ctx.relay.committed({
      ids: row.outbox_ids,
      entries: [{ kind: 'event', audience: { chatId }, event: event(row.last_read_seq) }],
      versions: { [chatId]: row.members_version },
    });
  }
  return { chatId, lastReadSeq: row.last_read_seq, unreadCount: row.unread };
}
