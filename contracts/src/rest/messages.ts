import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime, text, uuid } from '../common.js';
import { errorBodySchema } from '../errors.js';
import { attachmentSchema, MAX_ATTACHMENTS } from './media.js';

const c = initContract();

export const MESSAGE_MAX_LENGTH = 10_000;
export const MESSAGE_PAGE_DEFAULT = 50;
export const MESSAGE_PAGE_MAX = 100;

/** Message text: a safe markdown subset (bold, italic, inline code, links), never HTML. */
export const messageBodySchema = text()
  .max(MESSAGE_MAX_LENGTH, `Use at most ${MESSAGE_MAX_LENGTH} characters.`)
  .refine((s) => s.trim().length > 0, 'Write something first.');

/** The text of a message that may carry attachments instead (checked with them by `hasContent`). */
const sendBodySchema = text().max(MESSAGE_MAX_LENGTH, `Use at most ${MESSAGE_MAX_LENGTH} characters.`);

/** One emoji (a grapheme with pictographic or flag characters), as stored in reactions. */
export const emojiSchema = text()
  .min(1)
  .max(32)
  .regex(
    /^(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|\p{Emoji_Modifier}|\u200D|\uFE0F|\u20E3|[#*0-9])+$/u,
    'Use one emoji.',
  )
  .refine((s) => /\p{Extended_Pictographic}|\p{Regional_Indicator}/u.test(s), 'Use one emoji.');

/** high: highlighted; urgent: highlighted and notifies even in a muted chat. */
export const messagePrioritySchema = z.enum(['normal', 'high', 'urgent']);
export type MessagePriority = z.infer<typeof messagePrioritySchema>;

/** `@username` in a text: a mention of that member (usernames are a-z, 0-9, "_" and "."). */
export const MENTION_PATTERN = /(^|[^\w@.])@([a-z0-9_.]{3,32})(?![\w])/g;

export const sendMessageFields = z.object({
  /** Chosen by the client, one per message; a retry with the same id returns the original. */
  clientMsgId: uuid,
  /** May be empty when the message carries attachments. */
  body: sendBodySchema.default(''),
  /** Ids of your own uploads (POST /api/media) not attached yet, in display order. */
  attachments: z.array(uuid).max(MAX_ATTACHMENTS, `Attach at most ${MAX_ATTACHMENTS} files.`).default([]),
  /** A message of the same chat to quote. */
  replyTo: uuid.optional(),
  priority: messagePrioritySchema.default('normal'),
});

/** A message needs text or at least one attachment, and each attachment once. */
export function hasContent(input: { body: string; attachments: string[] }, ctx: z.RefinementCtx): void {
  if (input.body.trim().length === 0 && input.attachments.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['body'], message: 'Write something first.' });
  }
  if (new Set(input.attachments).size !== input.attachments.length) {
    ctx.addIssue({ code: 'custom', path: ['attachments'], message: 'Attach each file once.' });
  }
}

export const sendMessageSchema = sendMessageFields.superRefine(hasContent);
export type SendMessageInput = z.infer<typeof sendMessageSchema>;

export const editMessageSchema = z.object({ body: messageBodySchema });

export const deleteScopeSchema = z.enum(['everyone', 'me']);
export type DeleteScope = z.infer<typeof deleteScopeSchema>;

export const messageSenderSchema = z.object({
  id: uuid,
  username: z.string(),
  displayName: z.string(),
});

export const reactionSummarySchema = z.object({
  emoji: z.string(),
  /** Who reacted, oldest first. */
  userIds: z.array(uuid),
});
export type ReactionSummary = z.infer<typeof reactionSummarySchema>;

export const systemEventSchema = z.object({
  action: z.enum([
    'group_created',
    'member_added',
    'member_removed',
    'member_left',
    'renamed',
    'role_changed',
    'ownership_transferred',
    'ttl_changed',
  ]),
  actorId: uuid.nullable(),
  /** The users the action was about (added, removed, promoted). */
  userIds: z.array(uuid),
  /** Display names at the time, so old system lines read right after renames. */
  names: z.record(z.string(), z.string()),
  /** New group name for "renamed", new role for "role_changed", seconds (or null) for "ttl_changed". */
  value: z.string().nullable(),
});
export type SystemEvent = z.infer<typeof systemEventSchema>;

export const replyPreviewSchema = z.object({
  id: uuid,
  seq: z.number().int(),
  senderId: uuid.nullable(),
  senderName: z.string().nullable(),
  /** First characters of the quoted text; empty when it was deleted. */
  bodyPreview: z.string(),
  deleted: z.boolean(),
});

export const messageSchema = z.object({
  id: uuid,
  chatId: uuid,
  /** Position in the chat: 1, 2, 3… with no gaps. Order by this, never by time. */
  seq: z.number().int().positive(),
  kind: z.enum(['text', 'system']),
  senderId: uuid.nullable(),
  sender: messageSenderSchema.nullable(),
  clientMsgId: uuid.nullable(),
  /** Empty once deleted for everyone (and may be empty when it carries attachments). */
  body: z.string(),
  /** Pictures, voice notes, videos and files, in the sender's order; empty once deleted. */
  attachments: z.array(attachmentSchema),
  replyTo: replyPreviewSchema.nullable(),
  system: systemEventSchema.nullable(),
  reactions: z.array(reactionSummarySchema),
  priority: messagePrioritySchema,
  /** Members named with @username in the text. */
  mentions: z.array(uuid),
  /** Disappearing messages: erased everywhere at this time. */
  expiresAt: isoDateTime.nullable(),
  createdAt: isoDateTime,
  editedAt: isoDateTime.nullable(),
  deletedAt: isoDateTime.nullable(),
  /** Bumped by every edit, delete and reaction change. */
  version: z.number().int(),
});
export type Message = z.infer<typeof messageSchema>;

const seqParam = z.coerce.number().int().min(0).max(2_147_483_647);

export const listMessagesQuerySchema = z
  .object({
    /** Messages with a smaller seq (older), newest of them last in the page. */
    before: seqParam.optional(),
    /** Messages with a larger seq (newer). */
    after: seqParam.optional(),
    /** A message id: the page holds it with older and newer ones around it (deep links). */
    around: uuid.optional(),
    limit: z.coerce.number().int().min(1).max(MESSAGE_PAGE_MAX).default(MESSAGE_PAGE_DEFAULT),
  })
  .refine((q) => [q.before, q.after, q.around].filter((v) => v !== undefined).length <= 1, {
    message: 'Use at most one of before, after and around.',
    path: ['before'],
  });

export const messagePageSchema = z.object({
  /** Oldest first. */
  messages: z.array(messageSchema),
  hasMoreBefore: z.boolean(),
  hasMoreAfter: z.boolean(),
});
export type MessagePage = z.infer<typeof messagePageSchema>;

export const listChangesQuerySchema = z.object({
  /** The chat `version` the client last saw. */
  sinceVersion: z.coerce.number().int().min(0).max(2_147_483_647),
  limit: z.coerce.number().int().min(1).max(MESSAGE_PAGE_MAX).default(MESSAGE_PAGE_MAX),
});

export const changesPageSchema = z.object({
  /** Messages edited, deleted or reacted to after `sinceVersion`, in their current state. */
  messages: z.array(messageSchema),
  /** Pass as `sinceVersion` next time (the last change in this page). */
  version: z.number().int(),
  hasMore: z.boolean(),
});

export const readPositionSchema = z.object({ upToSeq: z.number().int().min(0).max(2_147_483_647) });

export const readStateSchema = z.object({
  chatId: uuid,
  lastReadSeq: z.number().int(),
  unreadCount: z.number().int(),
});

const chatParams = z.object({ chatId: uuid });
const messageParams = z.object({ messageId: uuid });
const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  404: errorBodySchema,
} as const;

/** Messages inside a chat, and the operations on one message. */
export const messagesContract = c.router(
  {
    list: {
      method: 'GET',
      path: '/chats/:chatId/messages',
      summary: 'A page of messages: the newest, or before/after a seq, or around a message',
      pathParams: chatParams,
      query: listMessagesQuerySchema,
      responses: { 200: messagePageSchema, ...errors },
    },
    send: {
      method: 'POST',
      path: '/chats/:chatId/messages',
      summary: 'Send a message (same rules as the WebSocket message:send)',
      pathParams: chatParams,
      body: sendMessageSchema,
      responses: {
        200: messageSchema,
        201: messageSchema,
        ...errors,
        403: errorBodySchema,
        409: errorBodySchema,
        429: errorBodySchema,
      },
    },
    changes: {
      method: 'GET',
      path: '/chats/:chatId/changes',
      summary: 'Messages changed (edited, deleted, reacted to) since a chat version, for re-sync',
      pathParams: chatParams,
      query: listChangesQuerySchema,
      responses: { 200: changesPageSchema, ...errors },
    },
    markRead: {
      method: 'POST',
      path: '/chats/:chatId/read',
      summary: 'Move the read position forward to upToSeq',
      pathParams: chatParams,
      body: readPositionSchema,
      responses: { 200: readStateSchema, ...errors },
    },
    edit: {
      method: 'PUT',
      path: '/messages/:messageId',
      summary: 'Edit the text of your own message',
      pathParams: messageParams,
      body: editMessageSchema,
      responses: { 200: messageSchema, ...errors, 403: errorBodySchema, 409: errorBodySchema },
    },
    remove: {
      method: 'DELETE',
      path: '/messages/:messageId',
      summary: 'Delete for everyone (sender or group admin; leaves a tombstone) or only for me',
      pathParams: messageParams,
      query: z.object({ scope: deleteScopeSchema.default('everyone') }),
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors, 403: errorBodySchema },
    },
    addReaction: {
      method: 'POST',
      path: '/messages/:messageId/reactions',
      summary: 'React with an emoji (once per emoji per user)',
      pathParams: messageParams,
      body: z.object({ emoji: emojiSchema }),
      responses: {
        200: z.object({ reactions: z.array(reactionSummarySchema) }),
        ...errors,
        409: errorBodySchema,
      },
    },
    removeReaction: {
      method: 'DELETE',
      path: '/messages/:messageId/reactions/:emoji',
      summary: 'Take back your reaction',
      pathParams: z.object({ messageId: uuid, emoji: emojiSchema }),
      body: c.noBody(),
      responses: {
        200: z.object({ reactions: z.array(reactionSummarySchema) }),
        ...errors,
        409: errorBodySchema,
      },
    },
  },
  { strictStatusCodes: true },
);
