/**
 * The rules that guard writing to a chat, in one place. Every write to a chat and every
 * event a user causes in it — REST and WebSocket alike — is checked against them, through
 * `assertMayWrite` (sending on the request-chat path, deletes, typing, chat settings) or
 * with the same SQL (`chatRulesSql`) inside a write that is one statement (reactions,
 * edits). Read positions are guarded by membership alone (`assertMembershipOnly`). Group
 * administration (rename, members, roles) has no rule of these kinds beyond membership,
 * which `requireGroupRole` (access.ts) checks with the role.
 *
 * The rules, in the order they are checked (the first that refuses answers):
 *
 * 1. Membership: not a member of the chat (never was, removed, left) → NOT_FOUND, the
 *    same answer as for a chat that does not exist.
 * 2. Block: in a direct chat where either person blocked the other → BLOCKED.
 * 3. Rejection hold: the requester of a chat request the other person rejected →
 *    CHAT_REQUEST_DECLINED (until a new request is opened after the hold).
 * 4. Pending request: the requester of a chat request not answered yet may send up to
 *    CHAT_REQUEST_MESSAGE_LIMIT messages and show typing while a send would be allowed
 *    (`budget`); edits, reactions and settings would reach the other person without bound,
 *    so they wait for the answer (`refuse`); deleting one's own message for everyone is
 *    bounded by the messages sent and stays allowed (`free`). All → CHAT_REQUEST_LIMIT.
 *
 * `actionRules` says which of rules 2–4 apply to each action; rule 1 applies to all;
 * `chatRulesSql` decides them, in the database, in the round trip that reads the facts.
 * What only concerns the user themself (reading, hiding a message for me) stays allowed
 * after a block or a rejection.
 *
 * The second place these rules live is the group-commit send statement
 * (messages/send-batch.ts), which checks rules 1 and 2 in SQL for a whole batch and hands
 * every chat with a request state (rules 3 and 4) back to `sendInTransaction`, which asks
 * this module. `chats/chat-rules.test.ts` runs the same matrix over both.
 */
import { CHAT_REQUEST_MESSAGE_LIMIT, type ErrorCode } from '@parley/contracts';
import { AppError } from '../infra/errors.js';
import type { Database, Statement } from '../infra/db/client.js';
import type { Db } from './access.js';

export type ChatAction =
  | 'send'
  | 'edit'
  | 'delete-for-everyone'
  | 'delete-for-me'
  | 'react'
  | 'typing-start'
  | 'typing-stop'
  | 'mark-read'
  | 'settings';

export interface ActionRules {
  /** Refused in a direct chat with a block either way. */
  block: boolean;
  /** Refused to the requester of a rejected chat request. */
  rejectionHold: boolean;
  /** For the requester of a pending chat request: within the message budget, never, or always. */
  pendingRequest: 'budget' | 'refuse' | 'free';
}

export const actionRules: Record<ChatAction, ActionRules> = {
  send: { block: true, rejectionHold: true, pendingRequest: 'budget' },
  'typing-start': { block: true, rejectionHold: true, pendingRequest: 'budget' },
  // A stop only ends what an allowed start announced; the budget does not apply.
  'typing-stop': { block: true, rejectionHold: true, pendingRequest: 'free' },
  edit: { block: true, rejectionHold: true, pendingRequest: 'refuse' },
  react: { block: true, rejectionHold: true, pendingRequest: 'refuse' },
  settings: { block: true, rejectionHold: true, pendingRequest: 'refuse' },
  'delete-for-everyone': { block: true, rejectionHold: true, pendingRequest: 'free' },
  'delete-for-me': { block: false, rejectionHold: false, pendingRequest: 'free' },
  'mark-read': { block: false, rejectionHold: false, pendingRequest: 'free' },
};

/** What the rules need to know about a member and their chat, and what they decided. */
export interface ChatFacts {
  kind: 'direct' | 'group';
  requestState: 'pending' | 'rejected' | null;
  requestedBy: string | null;
  /** Either person of a direct chat blocked the other (false in groups). */
  blocked: boolean;
  /** Text messages the user sent in the chat (counted only for a pending request's requester). */
  sent: number;
  /** The error code of the first rule that refuses the action asked about, or null. */
  refusal: ErrorCode | null;
}

const sqlBool = (value: boolean) => (value ? 'true' : 'false');

/**
 * The rules as SQL, for `action`: a query giving one row for a member of the chat (none
 * for anyone else, rule 1) with the facts (columns kind, request_state, requested_by,
 * blocked, sent) and `refusal`, the error code of the first of rules 2–4 that refuses the
 * action, or null. `chat` and `user` are SQL expressions of type uuid (parameters, or a
 * subquery of the statement it is part of). This is where the rules are decided, for
 * `assertMayWrite` and for the writes that are one statement (reactions and edits,
 * messages/react-to-message.ts and edit-message.ts): what `actionRules` says about the action is written into the text,
 * so each action's text is a constant.
 */
export function chatRulesSql(action: ChatAction, chat: string, user: string): string {
  const rules = actionRules[action];
  const pendingRefused =
    rules.pendingRequest === 'refuse'
      ? 'true'
      : rules.pendingRequest === 'budget'
        ? `f.sent >= ${CHAT_REQUEST_MESSAGE_LIMIT}`
        : 'false';
  return `
    SELECT f.*, CASE
      WHEN ${sqlBool(rules.block)} AND f.blocked THEN 'BLOCKED'
      WHEN f.kind <> 'direct' OR f.requested_by IS DISTINCT FROM ${user} THEN NULL
      WHEN ${sqlBool(rules.rejectionHold)} AND f.request_state = 'rejected' THEN 'CHAT_REQUEST_DECLINED'
      WHEN f.request_state = 'pending' AND ${pendingRefused} THEN 'CHAT_REQUEST_LIMIT'
    END AS refusal
    FROM (
      SELECT c.kind, c.request_state, c.requested_by,
        CASE WHEN c.kind = 'direct' THEN EXISTS (
          SELECT 1 FROM chat_members o JOIN blocks b
            ON (b.blocker_id = ${user} AND b.blocked_id = o.user_id)
            OR (b.blocker_id = o.user_id AND b.blocked_id = ${user})
          WHERE o.chat_id = c.id AND o.user_id <> ${user}
        ) ELSE false END AS blocked,
        CASE WHEN c.request_state = 'pending' AND c.requested_by = ${user} THEN (
          SELECT count(*)::int FROM messages s
          WHERE s.chat_id = c.id AND s.sender_id = ${user} AND s.kind = 'text'
        ) ELSE 0 END AS sent
      FROM chat_members m JOIN chats c ON c.id = m.chat_id
      WHERE m.chat_id = ${chat} AND m.user_id = ${user}
    ) f`;
}

interface FactsRow {
  kind: string;
  request_state: string | null;
  requested_by: string | null;
  blocked: boolean;
  sent: number;
  refusal: string | null;
}

const factsQuery = (action: ChatAction) =>
  `SELECT kind, request_state, requested_by::text AS requested_by, blocked, sent, refusal
   FROM (${chatRulesSql(action, '$1::uuid', '$2::uuid')}) r`;

/** Each action's query as a hot-path statement (prepared once per connection). */
const factsStatements = new Map<ChatAction, Statement>();
function factsStatement(action: ChatAction): Statement {
  let statement = factsStatements.get(action);
  if (!statement) {
    statement = { name: `chat-rules-${action}`, text: factsQuery(action) };
    factsStatements.set(action, statement);
  }
  return statement;
}

/**
 * One round trip: the rules' facts and decision for `action`; null for someone not a
 * member. Inside a write's transaction `db` is the transaction; outside one (typing), the
 * database, whose hot path skips Prisma.
 */
async function loadChatFacts(
  db: Db | Database,
  { userId, chatId, action }: { userId: string; chatId: string; action: ChatAction },
): Promise<ChatFacts | null> {
  const rows =
    'prisma' in db
      ? await db.sql<FactsRow>(factsStatement(action), [chatId, userId])
      : await db.$queryRawUnsafe<FactsRow[]>(factsQuery(action), chatId, userId);
  const row = rows[0];
  if (!row) return null;
  return {
    kind: row.kind as ChatFacts['kind'],
    requestState: row.request_state as ChatFacts['requestState'],
    requestedBy: row.requested_by,
    blocked: row.blocked,
    sent: row.sent,
    refusal: row.refusal as ErrorCode | null,
  };
}

/**
 * Throws the error of the first rule that refuses `action` to `userId` in `chatId`; else
 * returns the facts it decided on. Inside a write's transaction, pass the transaction;
 * outside one, the database (`ctx.db`).
 */
export async function assertMayWrite(
  db: Db | Database,
  { userId, chatId, action }: { userId: string; chatId: string; action: ChatAction },
): Promise<ChatFacts> {
  const facts = await loadChatFacts(db, { userId, chatId, action });
  if (!facts) throw new AppError('NOT_FOUND');
  if (facts.refusal) throw new AppError(facts.refusal);
  return facts;
}

/** The same question without an error: for events the server itself would send (a typing state ending). */
export async function mayWrite(
  db: Db | Database,
  request: { userId: string; chatId: string; action: ChatAction },
): Promise<boolean> {
  const facts = await loadChatFacts(db, request);
  return facts !== null && facts.refusal === null;
}

/**
 * For an action guarded by membership alone (reading), written as one statement that
 * checks the membership itself: throws when the action has other rules, which that
 * statement would have to ask with `chatRulesSql`. Called once, when the module loads.
 */
export function assertMembershipOnly(action: ChatAction): void {
  const rules = actionRules[action];
  if (rules.block || rules.rejectionHold || rules.pendingRequest !== 'free') {
    throw new Error(`${action} is guarded by more than membership: use chatRulesSql`);
  }
}
