import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime, nameSchema, text, uuid } from '../common.js';
import { errorBodySchema } from '../errors.js';
import { publicUserSchema } from './users.js';

const c = initContract();

/** Members of a group, the owner included. */
export const GROUP_MAX_MEMBERS = 300;
export const CHAT_PAGE_DEFAULT = 50;

export const chatKindSchema = z.enum(['direct', 'group']);
export type ChatKind = z.infer<typeof chatKindSchema>;
export const memberRoleSchema = z.enum(['owner', 'admin', 'member']);
export type MemberRole = z.infer<typeof memberRoleSchema>;

export const groupNameSchema = nameSchema({ max: 100, required: 'Name the group.' });
export const groupDescriptionSchema = text().trim().max(500, 'Use at most 500 characters.');
/** A picture for the group: an https or http URL (uploads arrive with media). */
export const avatarUrlSchema = text()
  .trim()
  .max(2048)
  .url('Enter a web address.')
  .refine((u) => /^https?:\/\//i.test(u), 'Use an http or https address.');

export const createDirectChatSchema = z.object({ userId: uuid });

export const createGroupSchema = z.object({
  name: groupNameSchema,
  description: groupDescriptionSchema.optional(),
  avatarUrl: avatarUrlSchema.nullable().optional(),
  /** Everyone but the creator, who becomes the owner. More than 299 people: GROUP_FULL. */
  memberIds: z.array(uuid).max(1000).default([]),
});
export type CreateGroupInput = z.input<typeof createGroupSchema>;

export const updateChatSchema = z.object({
  name: groupNameSchema.optional(),
  description: groupDescriptionSchema.optional(),
  avatarUrl: avatarUrlSchema.nullable().optional(),
});
export type UpdateChatInput = z.infer<typeof updateChatSchema>;

export const messagePreviewSchema = z.object({
  id: uuid,
  seq: z.number().int(),
  kind: z.enum(['text', 'system']),
  senderId: uuid.nullable(),
  senderName: z.string().nullable(),
  /** The first characters of the text, '' once deleted. */
  text: z.string(),
  deleted: z.boolean(),
  createdAt: isoDateTime,
});

/** A direct chat with someone who is not a contact starts as a request. */
export const CHAT_REQUEST_MESSAGE_LIMIT = 3;
export const chatRequestSchema = z.object({
  state: z.enum(['pending', 'rejected']),
  /** Who opened the chat; the other person accepts or rejects. */
  requestedBy: uuid,
});

/** What every member sees alike. */
export const chatInfoSchema = z.object({
  id: uuid,
  kind: chatKindSchema,
  /** Group name; for direct chats the other person's display name. */
  name: z.string(),
  description: z.string(),
  avatarUrl: z.string().nullable(),
  memberCount: z.number().int(),
  /** Disappearing messages: new messages expire this long after they are sent; null = off. */
  messageTtlSeconds: z.number().int().nullable(),
  /** seq of the newest message. */
  lastSeq: z.number().int(),
  /** Bumped by every edit, delete and reaction in the chat (see GET /changes). */
  version: z.number().int(),
  createdAt: isoDateTime,
  lastActivityAt: isoDateTime,
  /** Set while a direct chat is an unanswered (or rejected) request; null once accepted. */
  request: chatRequestSchema.nullable(),
});
export type ChatInfo = z.infer<typeof chatInfoSchema>;

export const notifyLevelSchema = z.enum(['all', 'mentions', 'none']);
export type NotifyLevel = z.infer<typeof notifyLevelSchema>;

/** One member's own settings for a chat. */
export const chatPreferencesSchema = z.object({
  /** Archived chats are listed apart (GET /chats?archived=true) and stay there. */
  archived: z.boolean(),
  /** Muted until this time, "forever", or null when not muted. */
  mutedUntil: z.union([isoDateTime, z.literal('forever')]).nullable(),
  /** Which messages notify: all, only mentions of me, or none. */
  notify: notifyLevelSchema,
});
export type ChatPreferences = z.infer<typeof chatPreferencesSchema>;

export const updatePreferencesSchema = z.object({
  archived: z.boolean().optional(),
  mutedUntil: z
    .union([isoDateTime, z.literal('forever')])
    .nullable()
    .optional(),
  notify: notifyLevelSchema.optional(),
});
export type UpdatePreferencesInput = z.infer<typeof updatePreferencesSchema>;

/** A chat as one member sees it in their list. */
export const chatSchema = chatInfoSchema.extend({
  myRole: memberRoleSchema,
  /** The other person of a direct chat. */
  peer: publicUserSchema.nullable(),
  lastMessage: messagePreviewSchema.nullable(),
  lastReadSeq: z.number().int(),
  /** Messages from others after my read position. */
  unreadCount: z.number().int(),
  preferences: chatPreferencesSchema,
});
export type Chat = z.infer<typeof chatSchema>;

export const chatMemberSchema = z.object({
  user: publicUserSchema,
  role: memberRoleSchema,
  joinedAt: isoDateTime,
  lastDeliveredSeq: z.number().int(),
  lastReadSeq: z.number().int(),
  online: z.boolean(),
  lastSeenAt: isoDateTime.nullable(),
});
export type ChatMember = z.infer<typeof chatMemberSchema>;

/** The choices for disappearing messages: 1 hour, 1 day, 7 days, 90 days. */
export const MESSAGE_TTL_CHOICES = [3600, 86_400, 604_800, 7_776_000] as const;

export const chatSettingsSchema = z.object({
  messageTtlSeconds: z
    .number()
    .int()
    .refine((v) => (MESSAGE_TTL_CHOICES as readonly number[]).includes(v), {
      message: 'Use 3600 (1 hour), 86400 (1 day), 604800 (7 days) or 7776000 (90 days).',
    })
    .nullable(),
});

export const listChatsQuerySchema = z.object({
  /** true: only archived chats; false (default): the rest. */
  archived: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  limit: z.coerce.number().int().min(1).max(100).default(CHAT_PAGE_DEFAULT),
  /** Opaque cursor from the previous page's `nextCursor`. */
  cursor: text().max(200).optional(),
});

const chatParams = z.object({ chatId: uuid });
const memberParams = z.object({ chatId: uuid, userId: uuid });
const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  404: errorBodySchema,
} as const;

export const chatsContract = c.router(
  {
    list: {
      method: 'GET',
      path: '/chats',
      summary: "The caller's chats, most recent activity first, with unread counts",
      query: listChatsQuerySchema,
      responses: {
        200: z.object({ chats: z.array(chatSchema), nextCursor: z.string().nullable() }),
        400: errorBodySchema,
        401: errorBodySchema,
      },
    },
    listRequests: {
      method: 'GET',
      path: '/chats/requests',
      summary: 'Direct chats other people opened with you that wait for your answer',
      responses: { 200: z.object({ chats: z.array(chatSchema) }), 401: errorBodySchema },
    },
    acceptRequest: {
      method: 'POST',
      path: '/chats/:chatId/accept',
      summary: 'Accept a chat request: it becomes a normal chat',
      pathParams: chatParams,
      body: c.noBody(),
      responses: { 200: chatSchema, ...errors, 403: errorBodySchema },
    },
    rejectRequest: {
      method: 'POST',
      path: '/chats/:chatId/reject',
      summary: 'Reject a chat request: hidden for you; the requester may not write or ask again for 24 hours',
      pathParams: chatParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors, 403: errorBodySchema },
    },
    createDirect: {
      method: 'POST',
      path: '/chats/direct',
      summary: 'Open the direct chat with a user (created once per pair, then returned)',
      body: createDirectChatSchema,
      responses: { 200: chatSchema, 201: chatSchema, ...errors },
    },
    createGroup: {
      method: 'POST',
      path: '/chats/group',
      summary: 'Create a group; the caller becomes its owner',
      body: createGroupSchema,
      responses: { 201: chatSchema, ...errors, 409: errorBodySchema },
    },
    get: {
      method: 'GET',
      path: '/chats/:chatId',
      summary: 'One chat',
      pathParams: chatParams,
      responses: { 200: chatSchema, ...errors },
    },
    update: {
      method: 'PUT',
      path: '/chats/:chatId',
      summary: 'Rename a group, change its description or picture (admins)',
      pathParams: chatParams,
      body: updateChatSchema,
      responses: { 200: chatSchema, ...errors, 403: errorBodySchema },
    },
    remove: {
      method: 'DELETE',
      path: '/chats/:chatId',
      summary: 'Delete a group (owner), or clear and hide a direct chat for yourself',
      pathParams: chatParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors, 403: errorBodySchema },
    },
    leave: {
      method: 'POST',
      path: '/chats/:chatId/leave',
      summary: 'Leave a group; an owner who leaves hands the group to the next admin or member',
      pathParams: chatParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors },
    },
    listMembers: {
      method: 'GET',
      path: '/chats/:chatId/members',
      summary: 'Members with their role, receipt positions and presence',
      pathParams: chatParams,
      responses: { 200: z.object({ members: z.array(chatMemberSchema) }), ...errors },
    },
    addMembers: {
      method: 'POST',
      path: '/chats/:chatId/members',
      summary: 'Add people to a group (admins); they see the whole history',
      pathParams: chatParams,
      body: z.object({
        /** Past 300 members in all: GROUP_FULL. */
        userIds: z.array(uuid).min(1).max(1000),
      }),
      responses: {
        200: z.object({ members: z.array(chatMemberSchema) }),
        ...errors,
        403: errorBodySchema,
        409: errorBodySchema,
      },
    },
    removeMember: {
      method: 'DELETE',
      path: '/chats/:chatId/members/:userId',
      summary: 'Remove someone from a group (admins; only the owner removes admins)',
      pathParams: memberParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors, 403: errorBodySchema },
    },
    setRole: {
      method: 'PUT',
      path: '/chats/:chatId/members/:userId',
      summary: 'Make a member an admin or back (owner)',
      pathParams: memberParams,
      body: z.object({ role: z.enum(['admin', 'member']) }),
      responses: { 200: chatMemberSchema, ...errors, 403: errorBodySchema },
    },
    updateSettings: {
      method: 'PUT',
      path: '/chats/:chatId/settings',
      summary: 'Disappearing messages on or off (in groups, admins only); posts a system message',
      pathParams: chatParams,
      body: chatSettingsSchema,
      responses: { 200: chatSchema, ...errors, 403: errorBodySchema },
    },
    setPreferences: {
      method: 'PUT',
      path: '/chats/:chatId/preferences',
      summary: 'Your own settings for a chat: archived, muted until, which messages notify',
      pathParams: chatParams,
      body: updatePreferencesSchema,
      responses: { 200: chatPreferencesSchema, ...errors },
    },
    transferOwnership: {
      method: 'POST',
      path: '/chats/:chatId/owner',
      summary: 'Hand the group to another member (owner); the old owner stays as admin',
      pathParams: chatParams,
      body: z.object({ userId: uuid }),
      responses: { 204: c.noBody(), ...errors, 403: errorBodySchema },
    },
  },
  { strictStatusCodes: true },
);
