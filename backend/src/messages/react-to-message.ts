/**
 * Reactions: each user adds each emoji to a message at most once; adding twice is a no-op.
 *
 * One statement (one round trip, one commit), like a send: a reaction is the command a
 * client can repeat fastest, and as an interactive transaction of eight statements it held
 * the embedded database's one connection for about 15 ms, during which everyone's sends
 * waited. The statement finds the message (the user's membership, a message the user had
 * cleared counts as gone), asks the chat rules (chats/chat-rules.ts, `chatRulesSql`),
 * writes the reaction, moves the chat's and the message's versions on when something
 * changed and records the event in the outbox, all in the same commit.
 *
 * Locks are taken in the order of the other writes: the reaction row, then the chat row
 * (its version), then the message row.
 */
import type { ErrorCode, ReactionSummary, ServerEvent } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { chatRulesSql } from '../chats/chat-rules.js';
import { visibleMessageSql } from './access.js';
import { AppError } from '../infra/errors.js';
import { summariseReactions } from './presenters.js';

/**
 * $1 message, $2 user, $3 emoji, $4 now, $5 the event, whose data.chatId and data.version
 * the statement fills in. Adding and removing differ only in the write.
 */
function reactionStatement(present: boolean) {
  const write = present
    ? `INSERT INTO message_reactions (message_id, user_id, emoji, created_at)
       SELECT id, $2::uuid, $3, $4::timestamptz FROM verdict WHERE refusal IS NULL
       ON CONFLICT DO NOTHING
       RETURNING user_id, emoji, created_at`
    : `DELETE FROM message_reactions r USING verdict v
       WHERE v.refusal IS NULL AND r.message_id = v.id AND r.user_id = $2::uuid AND r.emoji = $3
       RETURNING r.user_id, r.emoji, r.created_at`;
  return {
    name: present ? 'reaction-add' : 'reaction-remove',
    text: `
WITH target AS (${visibleMessageSql('$1::uuid', '$2::uuid')}),
rules AS (${chatRulesSql('react', '(SELECT chat_id FROM target)', '$2::uuid')}),
verdict AS (
  SELECT t.id, t.chat_id, t.version,
    COALESCE(r.refusal, CASE WHEN t.deleted_at IS NOT NULL THEN 'MESSAGE_DELETED' END) AS refusal
  FROM target t JOIN rules r ON true
),
changed AS (${write}),
chat_bump AS (
  UPDATE chats c SET version = c.version + 1
  FROM verdict v
  WHERE c.id = v.chat_id AND EXISTS (SELECT 1 FROM changed)
  RETURNING c.version, c.members_version
),
message_bump AS (
  UPDATE messages m SET version = m.version + 1, changed_in_version = (SELECT version FROM chat_bump)
  WHERE m.id = $1::uuid AND EXISTS (SELECT 1 FROM chat_bump)
  RETURNING m.chat_id, m.version
),
outboxed AS (
  INSERT INTO outbox (created_at, chat_id, payload)
  SELECT $4::timestamptz, chat_id,
    jsonb_set(jsonb_set($5::jsonb, '{data,chatId}', to_jsonb(chat_id::text)), '{data,version}', to_jsonb(version))
  FROM message_bump
  RETURNING id
)
SELECT v.refusal, v.chat_id::text AS chat_id,
  COALESCE((SELECT version FROM message_bump), v.version) AS version,
  (SELECT members_version FROM chat_bump) AS members_version,
  (SELECT array_agg(id::text) FROM outboxed) AS outbox_ids,
  -- What the message has after this commit: what it had (less the removed one) and the added one.
  (SELECT json_agg(json_build_object('userId', x.user_id, 'emoji', x.emoji) ORDER BY x.created_at, x.user_id)
   FROM (
     SELECT r.user_id, r.emoji, r.created_at FROM message_reactions r
     WHERE r.message_id = v.id AND ${present ? 'true' : 'NOT (r.user_id = $2::uuid AND r.emoji = $3)'}
     UNION ALL SELECT c.user_id, c.emoji, c.created_at FROM changed c WHERE ${present}
   ) x) AS reactions
FROM verdict v`,
  };
}

const ADD = reactionStatement(true);
const REMOVE = reactionStatement(false);

interface ReactionRow {
  refusal: ErrorCode | null;
  chat_id: string;
  version: number;
  members_version: number | null;
  outbox_ids: string[] | null;
  reactions: { userId: string; emoji: string }[] | null;
}

export async function setReaction(
  ctx: AppContext,
  userId: string,
  messageId: string,
  emoji: string,
  present: boolean,
): Promise<ReactionSummary[]> {
  // The event as it is published; the statement writes the version the message gets.
  const event = (chatId: string, version: number): ServerEvent => ({
    type: present ? 'reaction:added' : 'reaction:removed',
    data: { chatId, messageId, userId, emoji, version },
  });
  const [row] = await ctx.db.sql<ReactionRow>(present ? ADD : REMOVE, [
    messageId,
    userId,
    emoji,
    ctx.now(),
    JSON.stringify(event('', 0)),
  ]);
  if (!row) throw new AppError('NOT_FOUND');
  if (row.refusal) throw new AppError(row.refusal);
  if (row.outbox_ids?.length) {
    await ctx.relay.committed({
      ids: row.outbox_ids,
      entries: [{ kind: 'event', audience: { chatId: row.chat_id }, event: event(row.chat_id, row.version) }],
      versions: { [row.chat_id]: row.members_version! },
    });
  }
  return summariseReactions(row.reactions ?? []);
}
