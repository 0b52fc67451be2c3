/**
 * Group commit: many sends (any chats, any senders) committed by ONE statement, which is
 * one round trip and one commit. Per item it checks what must be true at commit time
 * (membership, no block in a direct chat, the reply target in the same chat, not a retry
 * of a stored clientMsgId) and reports an outcome; for the items that pass it takes each
 * chat's next seqs under the chat row's lock (gap-free, in commit order), inserts the
 * messages and their mentions, moves each sender's read position (sending means having
 * read the chat up to your own message), brings back members who had hidden a direct
 * chat, and records the outbox rows in the same commit.
 *
 * Rows that several statements lock (chats, chat_members) are always locked in key
 * order, so concurrent batches, receipts and other nodes never deadlock.
 *
 * Direct chats with a pending or declined chat request come back as `slow`: their rules
 * (3 messages until accepted, an answer accepts) run in their own transaction
 * (send-message.ts), in the same order of the pipeline.
 *
 * The statement is the second place the chat rules live (the first, for every other write
 * and for `slow` sends, is chats/chat-rules.ts): its `not_found` is rule 1 (membership),
 * its `blocked` rule 2 (a block either way in a direct chat), checked in that order, and
 * `slow` hands rules 3 and 4 (request hold and limit) to chat-rules.ts. A change to the
 * rules for sending changes both; chats/chat-rules.test.ts runs its matrix through both.
 */
import type { Database } from '../infra/db/client.js';

export interface BatchItem {
  messageId: string;
  chatId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
  replyToId: string | null;
  priority: 'normal' | 'high' | 'urgent';
  mentions: string[];
}

export type BatchStatus = 'ok' | 'not_found' | 'duplicate' | 'blocked' | 'bad_reply' | 'slow';

export interface BatchRow {
  ord: number;
  status: BatchStatus;
  seq: number | null;
  expires_at: Date | null;
  reply_seq: number | null;
  reply_sender_id: string | null;
  reply_body: string | null;
  reply_deleted: boolean | null;
  /** The chat's membership version the message committed under (null when not sent). */
  members_version: number | null;
  /** Outbox rows written (the same on every row). */
  outbox_ids: string[] | null;
  /** Members who had hidden a direct chat and get it back: [{ chatId, userIds }] (same on every row). */
  reopened: { chatId: string; userIds: string[] }[] | null;
}

const SEND_BATCH = {
  name: 'send-batch',
  text: `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::int[])
    AS t(id, chat_id, sender_id, client_msg_id, body, reply_to_id, priority, ord)
),
checked AS (
  SELECT i.*, r.seq AS reply_seq, r.sender_id AS reply_sender_id, r.body AS reply_body,
    r.deleted_at IS NOT NULL AS reply_deleted,
    CASE
      WHEN c.id IS NULL OR cm.user_id IS NULL THEN 'not_found'
      WHEN (SELECT true FROM messages d
            WHERE d.sender_id = i.sender_id AND d.client_msg_id = i.client_msg_id LIMIT 1) THEN 'duplicate'
      WHEN c.kind = 'direct' AND (
        SELECT true FROM chat_members o JOIN blocks b
          ON (b.blocker_id = i.sender_id AND b.blocked_id = o.user_id)
          OR (b.blocker_id = o.user_id AND b.blocked_id = i.sender_id)
        WHERE o.chat_id = i.chat_id AND o.user_id <> i.sender_id LIMIT 1) THEN 'blocked'
      WHEN c.request_state IS NOT NULL THEN 'slow'
      WHEN i.reply_to_id IS NOT NULL AND r.id IS NULL THEN 'bad_reply'
      ELSE 'ok'
    END AS status
  -- The statement is prepared once and planned once (a generic plan), possibly while the
  -- tables were still small. So every look-up is written as a per-item probe by key (a
  -- lateral subquery kept apart by OFFSET 0, a scalar subquery with LIMIT 1): no plan can
  -- turn it into a scan of a table that grows by hundreds of rows a second.
  FROM input i
  LEFT JOIN LATERAL (SELECT id, kind, request_state FROM chats WHERE id = i.chat_id OFFSET 0) c ON true
  LEFT JOIN LATERAL (
    SELECT user_id FROM chat_members WHERE chat_id = i.chat_id AND user_id = i.sender_id OFFSET 0
  ) cm ON true
  LEFT JOIN LATERAL (
    SELECT id, seq, sender_id, body, deleted_at FROM messages
    WHERE id = i.reply_to_id AND chat_id = i.chat_id OFFSET 0
  ) r ON true
),
ok AS (SELECT * FROM checked WHERE status = 'ok'),
counts AS (SELECT chat_id, count(*)::int AS n FROM ok GROUP BY chat_id),
-- The chats' rows are locked in id order ($12 is sorted), as by every statement that
-- locks several, so two batches (two nodes) never deadlock. ORDER BY sorts before locking.
chat_locks AS (
  SELECT id FROM chats WHERE id = ANY($12::uuid[]) ORDER BY id FOR UPDATE
),
bumped AS (
  UPDATE chats c SET last_seq = c.last_seq + counts.n, last_activity_at = $9::timestamptz
  FROM counts JOIN chat_locks l ON l.id = counts.chat_id
  WHERE c.id = counts.chat_id
  RETURNING c.id, c.last_seq AS top, counts.n, c.message_ttl_seconds AS ttl, c.kind, c.members_version
),
numbered AS (
  SELECT ok.id, ok.chat_id, ok.sender_id, ok.client_msg_id, ok.body, ok.reply_to_id, ok.priority, ok.ord,
    (b.top - b.n + row_number() OVER (PARTITION BY ok.chat_id ORDER BY ok.ord))::int AS seq,
    CASE WHEN b.ttl IS NULL THEN NULL ELSE $9::timestamptz + make_interval(secs => b.ttl) END AS expires_at,
    b.members_version
  FROM ok JOIN bumped b ON b.id = ok.chat_id
),
inserted AS (
  INSERT INTO messages (id, chat_id, seq, kind, sender_id, client_msg_id, body, reply_to_id, priority, expires_at, created_at)
  SELECT id, chat_id, seq, 'text', sender_id, client_msg_id, body, reply_to_id, priority, expires_at, $9::timestamptz
  FROM numbered
  RETURNING id
),
-- Search indexes it in the background (search/search-index.ts).
queued AS (
  INSERT INTO message_search_queue (message_id) SELECT id FROM inserted
),
mentioned AS (
  INSERT INTO message_mentions (message_id, user_id)
  SELECT m.message_id, m.user_id FROM unnest($10::uuid[], $11::uuid[]) AS m(message_id, user_id)
  WHERE m.message_id IN (SELECT id FROM inserted)
),
hidden AS (
  SELECT h.chat_id, h.user_id FROM chat_members h JOIN bumped b ON b.id = h.chat_id AND b.kind = 'direct'
  WHERE h.hidden
),
touched AS (
  SELECT chat_id, user_id, max(seq) AS seq FROM (
    SELECT chat_id, sender_id AS user_id, seq FROM numbered
    UNION ALL SELECT chat_id, user_id, NULL::int FROM hidden
  ) x GROUP BY chat_id, user_id
),
-- Sorted before locking (LockRows sits above the sort), like the receipts statement.
member_locks AS (
  SELECT m.chat_id, m.user_id, t.seq FROM chat_members m
  JOIN touched t ON t.chat_id = m.chat_id AND t.user_id = m.user_id
  ORDER BY m.chat_id, m.user_id
  FOR UPDATE OF m
),
positions AS (
  UPDATE chat_members cm SET hidden = false, last_read_seq = GREATEST(cm.last_read_seq, COALESCE(t.seq, 0))
  FROM member_locks t
  WHERE cm.chat_id = t.chat_id AND cm.user_id = t.user_id
),
outboxed AS (
  INSERT INTO outbox (created_at, chat_id, user_ids, message_ids, payload)
  SELECT $9::timestamptz, chat_id, array_agg(user_id), '{}'::uuid[], '{"render":"chat:created"}'::jsonb
  FROM hidden GROUP BY chat_id
  UNION ALL
  SELECT $9::timestamptz, NULL, '{}'::uuid[], array_agg(id ORDER BY chat_id, seq), NULL
  FROM numbered HAVING count(*) > 0
  RETURNING id, chat_id, user_ids
)
SELECT c.ord, c.status, n.seq, n.expires_at, n.members_version, c.reply_seq, c.reply_sender_id::text AS reply_sender_id,
  c.reply_body, c.reply_deleted,
  (SELECT array_agg(o.id::text ORDER BY o.id) FROM outboxed o) AS outbox_ids,
  (SELECT json_agg(json_build_object('chatId', o.chat_id, 'userIds', o.user_ids))
     FROM outboxed o WHERE o.chat_id IS NOT NULL) AS reopened
FROM checked c LEFT JOIN numbered n ON n.id = c.id
ORDER BY c.ord`,
};

/** One statement for the whole batch; rows come back in item order. */
export async function commitSendBatch(
  db: Database,
  items: readonly BatchItem[],
  now: Date,
): Promise<BatchRow[]> {
  const mentionMessages: string[] = [];
  const mentionUsers: string[] = [];
  for (const item of items) {
    for (const userId of item.mentions) {
      mentionMessages.push(item.messageId);
      mentionUsers.push(userId);
    }
  }
  return db.sql<BatchRow>(SEND_BATCH, [
    items.map((i) => i.messageId),
    items.map((i) => i.chatId),
    items.map((i) => i.senderId),
    items.map((i) => i.clientMsgId),
    items.map((i) => i.body),
    items.map((i) => i.replyToId),
    items.map((i) => i.priority),
    items.map((_, ord) => ord),
    now,
    mentionMessages,
    mentionUsers,
    [...new Set(items.map((i) => i.chatId))].sort(),
  ]);
}

const FIND_COMMITTED = {
  name: 'send-batch-committed',
  text: `SELECT id::text AS id FROM messages WHERE id = ANY($1::uuid[])`,
};

/** After a lost connection: which of these messages did commit? */
export async function committedMessageIds(db: Database, messageIds: readonly string[]): Promise<Set<string>> {
  const rows = await db.sql<{ id: string }>(FIND_COMMITTED, [messageIds]);
  return new Set(rows.map((r) => r.id));
}
