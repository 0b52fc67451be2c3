/**
 * Editing your own message: new text, marked edited, the chat's version moves on.
 *
 * One statement (one round trip, one commit), like a send and a reaction: as an interactive
 * transaction of a dozen statements an edit held the embedded database's one connection for
 * about 20 ms, during which everyone's sends waited. The statement finds the message (the
 * user's membership; a message the user had cleared counts as gone), asks the chat rules
 * (chats/chat-rules.ts, `chatRulesSql`), checks that it is the user's own text message and
 * not deleted, then writes the text, moves the chat's and the message's versions on, sets
 * the mentions to the members the new text names, writes the search row and records the
 * message:edited event in the outbox, rendered from the stored message when it is
 * published. The same text again changes nothing.
 *
 * Locks are taken in the order of the other writes: the chat row (its version), then the
 * message row.
 */
import type { ErrorCode, Message } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { chatRulesSql } from '../chats/chat-rules.js';
import { visibleMessageSql } from './access.js';
import { AppError } from '../infra/errors.js';
import { searchRowWriteSql } from '../search/search-index.js';
import { mentionedUsernames } from './mentions.js';
import { presentStoredMessages } from './presenters.js';

/** $1 message, $2 user, $3 text, $4 now, $5 the usernames the text mentions. */
const EDIT = {
  name: 'message-edit',
  text: `
WITH target AS (${visibleMessageSql('$1::uuid', '$2::uuid')}),
rules AS (${chatRulesSql('edit', '(SELECT chat_id FROM target)', '$2::uuid')}),
verdict AS (
  SELECT t.id, t.chat_id, t.body = $3 AS unchanged,
    COALESCE(r.refusal, CASE
      WHEN t.kind <> 'text' OR t.sender_id IS DISTINCT FROM $2::uuid THEN 'FORBIDDEN'
      WHEN t.deleted_at IS NOT NULL THEN 'MESSAGE_DELETED'
    END) AS refusal
  FROM target t JOIN rules r ON true
),
go AS (SELECT id, chat_id FROM verdict WHERE refusal IS NULL AND NOT unchanged),
chat_bump AS (
  UPDATE chats c SET version = c.version + 1
  FROM go WHERE c.id = go.chat_id
  RETURNING c.version, c.members_version
),
edited AS (
  UPDATE messages m SET body = $3, edited_at = $4::timestamptz, version = m.version + 1,
    changed_in_version = (SELECT version FROM chat_bump)
  FROM go WHERE m.id = go.id AND EXISTS (SELECT 1 FROM chat_bump)
  RETURNING m.*
),
named AS (
  SELECT cm.user_id FROM edited e
  JOIN chat_members cm ON cm.chat_id = e.chat_id
  JOIN users u ON u.id = cm.user_id
  WHERE u.username = ANY($5::text[])
),
unmentioned AS (
  DELETE FROM message_mentions mm USING edited e
  WHERE mm.message_id = e.id AND mm.user_id NOT IN (SELECT user_id FROM named)
),
mentioned AS (
  INSERT INTO message_mentions (message_id, user_id)
  SELECT e.id, n.user_id FROM edited e, named n
  ON CONFLICT DO NOTHING
),
${searchRowWriteSql('search', 'edited m')},
outboxed AS (
  INSERT INTO outbox (created_at, message_ids, payload)
  SELECT $4::timestamptz, ARRAY[id], '{"render":"message:edited"}'::jsonb FROM edited
  RETURNING id
)
SELECT v.refusal, v.chat_id::text AS chat_id,
  (SELECT members_version FROM chat_bump) AS members_version,
  (SELECT array_agg(id::text) FROM outboxed) AS outbox_ids
FROM verdict v`,
};

interface EditRow {
  refusal: ErrorCode | null;
  chat_id: string;
  members_version: number | null;
  outbox_ids: string[] | null;
}

export async function editMessage(
  ctx: AppContext,
  userId: string,
  messageId: string,
  body: string,
): Promise<Message> {
  const [row] = await ctx.db.sql<EditRow>(EDIT, [
    messageId,
    userId,
    body,
    ctx.now(),
    mentionedUsernames(body),
  ]);
  if (!row) throw new AppError('NOT_FOUND');
  if (row.refusal) {
    throw row.refusal === 'FORBIDDEN'
      ? new AppError('FORBIDDEN', 'You can only edit your own messages.')
      : new AppError(row.refusal);
  }
  // Read after the commit, once for the answer and the event alike.
  const [message] = await presentStoredMessages(ctx.db.prisma, [messageId]);
  if (row.outbox_ids?.length) {
    await ctx.relay.committed({
      ids: row.outbox_ids,
      entries: [
        {
          kind: 'messages',
          messageIds: [messageId],
          edited: true,
          ...(message ? { presented: [message] } : {}),
        },
      ],
      versions: { [row.chat_id]: row.members_version! },
    });
  }
  // Gone already (its chat deleted, expired): there is nothing left to show.
  if (!message) throw new AppError('NOT_FOUND');
  return message;
}
