import { messagePreviewText, systemEventText } from '@parley/contracts';
/**
 * Every chat I am in, with unread counts and the newest message's preview: the main list,
 * the archived ones and the chat requests others sent me, told apart by `chatFolder`.
 */
import type { Chat, ChatInfo, ChatPreferences, Message } from '@parley/contracts';
import { create } from 'zustand';

interface ChatsState {
  chats: Record<string, Chat>;
  /** The first full list has arrived. */
  loaded: boolean;
  error: string | null;
  setAll: (chats: Chat[]) => void;
  upsert: (chat: Chat) => void;
  update: (chatId: string, fn: (chat: Chat) => Chat) => void;
  remove: (chatId: string) => void;
  setError: (error: string | null) => void;
  clear: () => void;
}

export const useChatsStore = create<ChatsState>()((set) => ({
  chats: {},
  loaded: false,
  error: null,
  setAll: (list) =>
    set((s) => ({
      chats: Object.fromEntries(list.map((c) => [c.id, withSnapshot(s.chats[c.id], c)])),
      loaded: true,
      error: null,
    })),
  upsert: (chat) => set((s) => ({ chats: { ...s.chats, [chat.id]: withSnapshot(s.chats[chat.id], chat) } })),
  update: (chatId, fn) =>
    set((s) => {
      const chat = s.chats[chatId];
      if (!chat) return s;
      const next = fn(chat);
      return next === chat ? s : { chats: { ...s.chats, [chatId]: next } };
    }),
  remove: (chatId) =>
    set((s) => {
      if (!s.chats[chatId]) return s;
      const chats = { ...s.chats };
      delete chats[chatId];
      return { chats };
    }),
  setError: (error) => set({ error }),
  clear: () => set({ chats: {}, loaded: false, error: null }),
}));

/** Most recent activity first (as GET /chats orders them). */
export function sortChats(chats: Record<string, Chat>): Chat[] {
  return Object.values(chats).sort((a, b) =>
    a.lastActivityAt === b.lastActivityAt
      ? b.id.localeCompare(a.id)
      : b.lastActivityAt.localeCompare(a.lastActivityAt),
  );
}

const later = (a: string, b: string) => (Date.parse(a) >= Date.parse(b) ? a : b);

/** Counts toward unread: text from someone else, not deleted. */
export function countsAsUnread(message: Message, me: string): boolean {
  return message.kind === 'text' && message.senderId !== me && !message.deletedAt;
}

export function previewOf(message: Message): NonNullable<Chat['lastMessage']> {
  return {
    id: message.id,
    seq: message.seq,
    kind: message.kind,
    senderId: message.senderId,
    senderName: message.sender?.displayName ?? null,
    text: message.deletedAt
      ? ''
      : message.kind === 'system' && message.system
        ? systemEventText(message.system)
        : messagePreviewText(message.body, message.attachments),
    deleted: message.deletedAt !== null,
    createdAt: message.createdAt,
  };
}

/** A new message of the chat (live event or my own send's ack). Older seqs change nothing. */
export function withNewMessage(chat: Chat, message: Message, me: string): Chat {
  if (message.seq <= chat.lastSeq) return chat;
  const mine = message.senderId === me;
  return {
    ...chat,
    lastSeq: message.seq,
    lastMessage: previewOf(message),
    lastActivityAt: later(chat.lastActivityAt, message.createdAt),
    // Sending moves my own read position to my message.
    lastReadSeq: mine ? message.seq : chat.lastReadSeq,
    unreadCount: mine ? 0 : chat.unreadCount + (countsAsUnread(message, me) ? 1 : 0),
  };
}

/**
 * A chat as a REST answer has it, over what this client knows already. The answer may have
 * left the server before my latest read was stored (or before messages that came live since):
 * my read position, the last seq and the newest message never go back, and with an older
 * read position its unread count is stale too, so the one known here stays.
 */
export function withSnapshot(known: Chat | undefined, fresh: Chat): Chat {
  if (!known) return fresh;
  const next = { ...fresh, version: Math.max(known.version, fresh.version) };
  if (known.lastSeq > fresh.lastSeq) {
    next.lastSeq = known.lastSeq;
    next.lastMessage = known.lastMessage;
    next.lastActivityAt = later(known.lastActivityAt, fresh.lastActivityAt);
  }
  if (known.lastReadSeq > fresh.lastReadSeq) {
    next.lastReadSeq = known.lastReadSeq;
    next.unreadCount = known.unreadCount;
  }
  return next;
}

/** What every member sees alike (the data of chat:updated): a chat without my own fields. */
export function infoOf(chat: ChatInfo & Partial<Chat>): ChatInfo {
  const {
    myRole: _role,
    peer: _peer,
    lastMessage: _last,
    lastReadSeq: _read,
    unreadCount: _unread,
    preferences: _preferences,
    ...info
  } = chat;
  return info;
}

/**
 * chat:updated carries what every member sees alike; my own fields stay. Counters never go
 * back. Given a whole chat (a REST answer is one, and TypeScript lets it pass as a ChatInfo),
 * its fields of mine are left out too: they may predate my latest read.
 */
export function withInfo(chat: Chat, info: ChatInfo): Chat {
  return {
    ...chat,
    ...infoOf(info),
    lastSeq: Math.max(chat.lastSeq, info.lastSeq),
    version: Math.max(chat.version, info.version),
    lastActivityAt: later(chat.lastActivityAt, info.lastActivityAt),
    lastMessage: chat.lastMessage,
  };
}

/**
 * Where a chat is listed: a request someone sent me waits in "requests" (a rejected one is
 * hidden), archived chats in "archived" (and stay there when messages arrive), the rest
 * in the main list.
 */
export type ChatFolder = 'main' | 'archived' | 'requests' | 'hidden';

export function chatFolder(chat: Chat, me: string): ChatFolder {
  if (chat.request && chat.request.requestedBy !== me)
    return chat.request.state === 'pending' ? 'requests' : 'hidden';
  return chat.preferences.archived ? 'archived' : 'main';
}

/** A direct chat someone opened with me that waits for my answer. */
export function isIncomingRequest(chat: Pick<Chat, 'request'>, me: string): boolean {
  return chat.request?.state === 'pending' && chat.request.requestedBy !== me;
}

/** Muted forever, or until a time still ahead. */
export function isMuted(preferences: ChatPreferences, now = Date.now()): boolean {
  const until = preferences.mutedUntil;
  if (until === null) return false;
  return until === 'forever' || Date.parse(until) > now;
}
