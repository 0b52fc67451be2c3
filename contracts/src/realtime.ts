/**
 * The WebSocket protocol at /ws: every frame is JSON `{ type, id?, data }`.
 *
 * - Client → server frames are commands. A command with an `id` gets exactly one `ack`
 *   frame with that id: `{ type: "ack", id, ok: true, data }` or `{ ..., ok: false, error }`.
 * - The first command must be `auth`; until it succeeds every other command is refused
 *   with UNAUTHENTICATED.
 * - Server → client event frames are `{ type, position, data }`. `position` is the
 *   user's inbox position after this event; a device keeps the last one it processed
 *   and sends it in `sync:resume` after reconnecting.
 * - A device tells the server what it has processed with `sync:ack { position }`, sent
 *   without an `id` (no ack frame comes back): messages count as delivered to it only then.
 * - A frame the server cannot attribute to a command (not JSON, no id) is answered with
 *   `{ type: "error", error }`.
 *
 * specs/protocol.md describes the flow; this file is the schema.
 */
import { z } from 'zod';
import { isoDateTime, text, uuid } from './common.js';
import { errorBodySchema } from './errors.js';
import { chatInfoSchema, chatMemberSchema, chatPreferencesSchema, chatSchema } from './rest/chats.js';
import { contactRequestSchema, contactSchema } from './rest/contacts.js';
import {
  deleteScopeSchema,
  editMessageSchema,
  emojiSchema,
  messageSchema,
  hasContent,
  readPositionSchema,
  sendMessageFields,
} from './rest/messages.js';
import { attachmentSchema } from './rest/media.js';

/** Frames larger than this are refused with FRAME_TOO_LARGE (the socket stays open). */
export const WS_MAX_FRAME_BYTES = 128 * 1024;
/** A socket must authenticate within this time or it is closed. */
export const WS_AUTH_TIMEOUT_MS = 5_000;
/** A typing state ends by itself after this long without a new typing:start. */
export const TYPING_EXPIRES_MS = 6_000;

/** Close codes the server uses. */
export const wsCloseCodes = {
  /** Session signed out, revoked, or authentication not done in time. */
  policyViolation: 1008,
  /** A frame beyond the hard limit: the protocol cannot go on. */
  messageTooBig: 1009,
  /** The server is shutting down; reconnect. */
  goingAway: 1001,
} as const;

/** Opaque to clients: compare for equality only, store the last one, send it back. */
export const inboxPositionSchema = text().min(1).max(64);

export const frameSchema = z.object({
  type: text().min(1).max(64),
  id: text().min(1).max(64).optional(),
  data: z.unknown().optional(),
});

const chatRef = z.object({ chatId: uuid });

/** Every command and the shape of its `data`. */
export const commandSchemas = {
  auth: z.object({ token: text().min(1).max(4096) }),
  'sync:resume': z.object({ position: inboxPositionSchema }),
  /**
   * This device has processed every event up to `position` (a position of an event frame
   * this socket received). Messages in those frames now count as delivered to it. Sent
   * without an `id`, coalesced (a few a second at most); a position this socket was not
   * sent, or already acknowledged, changes nothing.
   */
  'sync:ack': z.object({ position: inboxPositionSchema }),
  'message:send': sendMessageFields.extend({ chatId: uuid }).superRefine(hasContent),
  'message:edit': editMessageSchema.extend({ messageId: uuid }),
  'message:delete': z.object({ messageId: uuid, scope: deleteScopeSchema.default('everyone') }),
  'reaction:add': z.object({ messageId: uuid, emoji: emojiSchema }),
  'reaction:remove': z.object({ messageId: uuid, emoji: emojiSchema }),
  'typing:start': chatRef,
  'typing:stop': chatRef,
  'chat:read': readPositionSchema.extend({ chatId: uuid }),
} as const;
export type CommandType = keyof typeof commandSchemas;
export type CommandData<T extends CommandType> = z.input<(typeof commandSchemas)[T]>;
export const commandTypes = Object.keys(commandSchemas) as CommandType[];

/** What a successful ack carries, per command. */
export const ackDataSchemas = {
  auth: z.object({ userId: uuid, sessionId: uuid, position: inboxPositionSchema }),
  'sync:resume': z.object({
    /** false: the position is gone; a sync:resync event follows. */
    resumed: z.boolean(),
    /** Events replayed before this ack. */
    replayed: z.number().int(),
    position: inboxPositionSchema,
  }),
  /** Only when sent with an `id` (tests): the position as received. */
  'sync:ack': z.object({ position: inboxPositionSchema }),
  'message:send': z.object({ message: messageSchema, duplicate: z.boolean() }),
  'message:edit': z.object({ message: messageSchema }),
  'message:delete': z.object({ messageId: uuid }),
  'reaction:add': z.object({ messageId: uuid }),
  'reaction:remove': z.object({ messageId: uuid }),
  'typing:start': z.object({ chatId: uuid }),
  'typing:stop': z.object({ chatId: uuid }),
  'chat:read': z.object({ chatId: uuid, lastReadSeq: z.number().int(), unreadCount: z.number().int() }),
} as const satisfies Record<CommandType, z.ZodTypeAny>;

export const ackFrameSchema = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('ack'), id: z.string(), ok: z.literal(true), data: z.unknown() }),
  z.object({
    type: z.literal('ack'),
    id: z.string(),
    ok: z.literal(false),
    error: errorBodySchema.shape.error,
  }),
]);
export type AckFrame = z.infer<typeof ackFrameSchema>;

export const errorFrameSchema = z.object({ type: z.literal('error'), error: errorBodySchema.shape.error });

const messageRef = z.object({ chatId: uuid, messageId: uuid });

/** Every event and the shape of its `data`. */
export const eventSchemas = {
  'message:new': z.object({ message: messageSchema }),
  'message:edited': z.object({ message: messageSchema }),
  /** scope "me" goes only to the user's own devices. */
  'message:deleted': messageRef.extend({
    seq: z.number().int(),
    scope: deleteScopeSchema,
    version: z.number().int(),
    /** When it was deleted for everyone; null for "me". */
    deletedAt: isoDateTime.nullable(),
  }),
  /**
   * An upload's processing moved on (pending → ready or failed): to its uploader, and once
   * attached to every member of the chat (chatId and messageId set).
   */
  'media:updated': z.object({
    chatId: uuid.nullable(),
    messageId: uuid.nullable(),
    attachment: attachmentSchema,
  }),
  /** Disappearing messages that reached their time: gone from the chat. */
  'message:expired': z.object({ chatId: uuid, messageIds: z.array(uuid) }),
  /**
   * Members' devices have received everything up to upToSeq (a device acknowledged it with
   * sync:ack, or fetched it over REST). Coalesced per chat: one event
   * carries every member whose position moved since the last one (at most a few per second
   * per chat), and goes to whoever can use it (both people of a direct chat; in a group the
   * senders of what was delivered).
   */
  'message:delivered': z.object({
    chatId: uuid,
    receipts: z
      .array(z.object({ userId: uuid, upToSeq: z.number().int() }))
      .min(1)
      .max(300),
  }),
  /** A member has read everything up to upToSeq. */
  'message:read': z.object({ chatId: uuid, userId: uuid, upToSeq: z.number().int() }),
  'reaction:added': messageRef.extend({ userId: uuid, emoji: z.string(), version: z.number().int() }),
  'reaction:removed': messageRef.extend({ userId: uuid, emoji: z.string(), version: z.number().int() }),
  'typing:start': z.object({ chatId: uuid, userId: uuid, expiresInMs: z.number().int() }),
  'typing:stop': z.object({ chatId: uuid, userId: uuid }),
  'presence:online': z.object({ userId: uuid }),
  'presence:offline': z.object({ userId: uuid, lastSeenAt: isoDateTime }),
  /** You were made a member of a new chat (created, or added to a group). */
  'chat:created': z.object({ chat: chatSchema }),
  'chat:updated': z.object({ chat: chatInfoSchema }),
  'chat:deleted': z.object({ chatId: uuid }),
  /** Your own settings for a chat changed (on another of your devices). */
  'chat:preferences': z.object({ chatId: uuid, preferences: chatPreferencesSchema }),
  'chat:member_added': z.object({
    chatId: uuid,
    members: z.array(chatMemberSchema),
    memberCount: z.number().int(),
  }),
  /** Sent to the remaining members and to the removed user, whose events for the chat stop. */
  'chat:member_removed': z.object({ chatId: uuid, userId: uuid, memberCount: z.number().int() }),
  'chat:member_updated': z.object({ chatId: uuid, member: chatMemberSchema }),
  /** A contact request you received or sent. */
  'contact:request': z.object({ request: contactRequestSchema }),
  /** A request was accepted, rejected or cancelled. */
  'contact:request_removed': z.object({ requestId: uuid }),
  'contact:added': z.object({ contact: contactSchema }),
  'contact:removed': z.object({ userId: uuid }),
  /** The position asked for is gone: re-sync from REST (chats, then messages, then changes). */
  'sync:resync': z.object({ reason: z.enum(['position_unknown', 'position_trimmed', 'overflow']) }),
} as const;
export type EventType = keyof typeof eventSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventSchemas)[T]>;
export type ServerEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];
export type EventFrame = ServerEvent & { position: string };
export const eventTypes = Object.keys(eventSchemas) as EventType[];

/** Events that describe a moment, not a change of state: they are pushed to whoever is
 * online and never stored in the inbox (a replayed "is typing" would be a lie). */
export const ephemeralEventTypes = [
  'typing:start',
  'typing:stop',
  'presence:online',
  'presence:offline',
] as const;

export const eventFrameSchema = z.object({
  type: z.enum(eventTypes as [EventType, ...EventType[]]),
  position: inboxPositionSchema,
  data: z.unknown(),
});

/** Parses an event frame's data with its schema (clients and tests). */
export function parseEvent(frame: { type: string; data: unknown }): ServerEvent | null {
  const schema = eventSchemas[frame.type as EventType];
  if (!schema) return null;
  const parsed = schema.safeParse(frame.data);
  return parsed.success ? ({ type: frame.type, data: parsed.data } as ServerEvent) : null;
}
