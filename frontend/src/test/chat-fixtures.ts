/** Builders for contract-shaped chats, messages and members in tests. */
import type { Chat, ChatMember, Message, SystemEvent } from '@parley/contracts';
import { testUser } from './stub-network';

export const ME = testUser.id;
export const BOB = '2b0e8c1a-1111-4c2e-8a11-0000000000b0';
export const CAROL = '2b0e8c1a-2222-4c2e-8a11-0000000000c0';
export const DAVE = '2b0e8c1a-3333-4c2e-8a11-0000000000d0';

export const names: Record<string, string> = {
  [ME]: testUser.displayName,
  [BOB]: 'Bob Baker',
  [CAROL]: 'Carol Chen',
  [DAVE]: 'Dave Diaz',
};
const usernames: Record<string, string> = { [ME]: 'ada', [BOB]: 'bob', [CAROL]: 'carol', [DAVE]: 'dave' };

/** 2026-03-01T10:MM:00.000Z */
export function at(minute: number): string {
  return new Date(Date.UTC(2026, 2, 1, 10, minute)).toISOString();
}

/** A stable UUID per label, so tests read as words. */
export function id(label: string): string {
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-0000-4000-8000-${hex.padStart(12, '0')}`;
}

export function user(userId: string) {
  return {
    id: userId,
    username: usernames[userId] ?? 'someone',
    displayName: names[userId] ?? 'Someone',
    statusText: '',
    availability: 'available' as const,
    createdAt: at(0),
  };
}

export function message(
  chatId: string,
  seq: number,
  senderId: string | null,
  body: string,
  extra: Partial<Message> = {},
): Message {
  return {
    id: id(`${chatId}#${seq}`),
    chatId,
    seq,
    kind: 'text',
    senderId,
    sender: senderId
      ? { id: senderId, username: usernames[senderId] ?? 'x', displayName: names[senderId] ?? 'x' }
      : null,
    clientMsgId: senderId ? id(`client ${chatId}#${seq}`) : null,
    body,
    attachments: [],
    replyTo: null,
    system: null,
    reactions: [],
    priority: 'normal',
    mentions: [],
    expiresAt: null,
    createdAt: at(seq),
    editedAt: null,
    deletedAt: null,
    version: 1,
    ...extra,
  };
}

export function systemMessage(chatId: string, seq: number, system: Omit<SystemEvent, 'names'>): Message {
  return message(chatId, seq, null, '', { kind: 'system', system: { ...system, names }, clientMsgId: null });
}

export function member(
  userId: string,
  role: ChatMember['role'],
  read: number,
  delivered = read,
  online = false,
): ChatMember {
  return {
    user: user(userId),
    role,
    joinedAt: at(0),
    lastDeliveredSeq: delivered,
    lastReadSeq: read,
    online,
    lastSeenAt: online ? null : at(0),
  };
}

export function chat(chatId: string, extra: Partial<Chat> = {}): Chat {
  return {
    id: chatId,
    kind: 'group',
    name: 'Team',
    description: '',
    avatarUrl: null,
    memberCount: 3,
    messageTtlSeconds: null,
    request: null,
    lastSeq: 0,
    version: 0,
    createdAt: at(0),
    lastActivityAt: at(0),
    myRole: 'owner',
    peer: null,
    lastMessage: null,
    lastReadSeq: 0,
    unreadCount: 0,
    preferences: { archived: false, mutedUntil: null, notify: 'all' },
    ...extra,
  };
}

export function preview(m: Message, text = m.body): NonNullable<Chat['lastMessage']> {
  return {
    id: m.id,
    seq: m.seq,
    kind: m.kind,
    senderId: m.senderId,
    senderName: m.sender?.displayName ?? null,
    text,
    deleted: m.deletedAt !== null,
    createdAt: m.createdAt,
  };
}

/** What every member sees alike (the data of chat:updated). */
export { infoOf } from '../messaging/chats-store';
