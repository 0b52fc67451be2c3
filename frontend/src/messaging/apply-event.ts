/**
 * How each server event changes the client's state. Every branch is idempotent and
 * monotonic (seqs, versions and receipt positions only move forward), because events can
 * arrive twice (at-least-once delivery) or after a fresher REST answer (during a re-sync).
 * state.test.ts checks that live events bring a stale state to what a fresh fetch returns.
 */
import type { Chat, ChatMember, ServerEvent } from '@parley/contracts';
import { applyUploadUpdate } from '../media/upload-store';
import { invalidateUrls } from '../media/url-store';
import { dropContact, dropRequest, upsertContact, upsertRequest } from '../people/contacts-store';
import {
  countsAsUnread,
  isIncomingRequest,
  previewOf,
  useChatsStore,
  withInfo,
  withNewMessage,
} from './chats-store';
import { type MemberMap, useMembersStore, withPositions } from './members-store';
import {
  type ChatMessages,
  type SeqGap,
  gapBefore,
  minSeq,
  updateChatMessages,
  useMessagesStore,
  withChangedMessages,
  withAttachment,
  withDeleted,
  withLiveMessage,
  withReaction,
} from './messages-store';
import { type Presence, usePresenceStore } from './presence-store';
import { useTypingStore } from './typing-store';

export interface EventEffects {
  /** The event cannot be applied exactly from what the client holds: fetch this chat again. */
  refreshChat?: (chatId: string) => void;
  /** A live message skipped seqs of a window at the live end: fetch what is missing. */
  fetchGap?: (chatId: string, gap: SeqGap) => void;
  /** Current time as ISO (for a tombstone when the event has no deletedAt). */
  now?: () => string;
  /** My chat request was accepted: what the request limit refused may go now. */
  requestAccepted?: (chatId: string) => void;
}

/**
 * Unread count after the read position moved to upToSeq, counted from the loaded window
 * when it covers everything after upToSeq; null when the client cannot tell.
 */
export function unreadAfter(
  chat: Chat,
  upToSeq: number,
  cm: ChatMessages | undefined,
  me: string,
): number | null {
  if (upToSeq >= chat.lastSeq) return 0;
  if (!cm?.loaded || cm.hasMoreAfter || minSeq(cm) > upToSeq + 1) return null;
  let n = 0;
  for (const id of cm.order) {
    const m = cm.byId[id];
    if (m && m.seq > upToSeq && countsAsUnread(m, me)) n += 1;
  }
  return n;
}

/** Forget everything about a chat I am no longer in. */
export function forgetChat(chatId: string): void {
  useChatsStore.getState().remove(chatId);
  useMessagesStore.getState().drop(chatId);
  useMembersStore.getState().drop(chatId);
  const typing = useTypingStore.getState();
  for (const userId of Object.keys(typing.byChat[chatId] ?? {})) typing.stop(chatId, userId);
}

/** My read position moved (this device or another one). */
export function applyOwnRead(chatId: string, upToSeq: number, me: string, effects: EventEffects = {}): void {
  const cm = useMessagesStore.getState().byChat[chatId];
  let unknown = false;
  useChatsStore.getState().update(chatId, (chat) => {
    if (upToSeq <= chat.lastReadSeq) return chat;
    const unread = unreadAfter(chat, upToSeq, cm, me);
    if (unread === null) unknown = true;
    return {
      ...chat,
      lastReadSeq: upToSeq,
      unreadCount: unread ?? Math.min(chat.unreadCount, chat.lastSeq - upToSeq),
    };
  });
  if (unknown) effects.refreshChat?.(chatId);
}

function upsertMembers(members: MemberMap, added: ChatMember[]): MemberMap {
  const next = { ...members };
  for (const m of added) next[m.user.id] = m;
  return next;
}

/** Presence of a user, in the presence store and in every member list they appear in. */
function setPresence(userId: string, presence: Presence): void {
  usePresenceStore.getState().set(userId, presence);
  const members = useMembersStore.getState();
  for (const chatId of Object.keys(members.byChat)) {
    members.update(chatId, (m) => {
      const known = m[userId];
      if (!known || (known.online === presence.online && known.lastSeenAt === presence.lastSeenAt)) return m;
      return { ...m, [userId]: { ...known, ...presence } };
    });
  }
}

export function applyEvent(event: ServerEvent, me: string, effects: EventEffects = {}): void {
  const chats = useChatsStore.getState();
  const members = useMembersStore.getState();
  const now = effects.now ?? (() => new Date().toISOString());

  switch (event.type) {
    case 'message:new': {
      const { message } = event.data;
      const chat = chats.chats[message.chatId];
      if (chat) {
        // Seqs skipped since the last one the list saw: the unread count cannot be counted here.
        if (message.seq > chat.lastSeq + 1) effects.refreshChat?.(message.chatId);
        chats.update(message.chatId, (c) => withNewMessage(c, message, me));
      } else if (chats.loaded) effects.refreshChat?.(message.chatId);
      const gap = gapBefore(useMessagesStore.getState().byChat[message.chatId], message);
      updateChatMessages(message.chatId, (cm) => withLiveMessage(cm, message));
      if (gap) effects.fetchGap?.(message.chatId, gap);
      if (message.senderId) useTypingStore.getState().stop(message.chatId, message.senderId);
      return;
    }
    case 'message:edited': {
      const { message } = event.data;
      updateChatMessages(message.chatId, (cm) => withChangedMessages(cm, [message]));
      chats.update(message.chatId, (c) =>
        c.lastMessage?.id === message.id ? { ...c, lastMessage: previewOf(message) } : c,
      );
      return;
    }
    case 'message:deleted': {
      const { chatId, messageId, seq, scope, version, deletedAt } = event.data;
      const chat = chats.chats[chatId];
      const before = useMessagesStore.getState().byChat[chatId]?.byId[messageId];
      let refresh = false;
      if (chat && seq > chat.lastReadSeq) {
        if (!before) refresh = true;
        else if (countsAsUnread(before, me)) {
          chats.update(chatId, (c) => ({ ...c, unreadCount: Math.max(0, c.unreadCount - 1) }));
        }
      }
      updateChatMessages(chatId, (cm) => withDeleted(cm, messageId, scope, version, deletedAt ?? now()));
      if (chat?.lastMessage?.id === messageId) {
        if (scope === 'everyone') {
          chats.update(chatId, (c) =>
            c.lastMessage ? { ...c, lastMessage: { ...c.lastMessage, text: '', deleted: true } } : c,
          );
        } else refresh = true; // The preview falls back to an earlier message only the server knows.
      }
      if (refresh) effects.refreshChat?.(chatId);
      return;
    }
    case 'media:updated': {
      // Processing moved on (pending → ready or failed): the attachment in its message, my
      // upload still in the composer, and URLs signed before the new variants existed.
      const { chatId, messageId, attachment } = event.data;
      invalidateUrls(attachment.id);
      if (chatId) updateChatMessages(chatId, (cm) => withAttachment(cm, messageId, attachment));
      else {
        for (const [id, cm] of Object.entries(useMessagesStore.getState().byChat)) {
          if (cm.pending.some((p) => p.attachments?.some((a) => a.id === attachment.id)))
            updateChatMessages(id, (c) => withAttachment(c, null, attachment));
        }
      }
      applyUploadUpdate(attachment);
      return;
    }
    case 'message:expired': {
      // Disappearing messages: gone for everyone; the list preview and unread count come
      // from the server again.
      const { chatId, messageIds } = event.data;
      updateChatMessages(chatId, (cm) =>
        messageIds.reduce((acc, id) => withDeleted(acc, id, 'me', null, now()), cm),
      );
      if (chats.chats[chatId]) effects.refreshChat?.(chatId);
      return;
    }
    case 'message:delivered': {
      // Coalesced per chat: one event moves every member whose devices received more.
      const { chatId, receipts } = event.data;
      members.update(chatId, (m) =>
        receipts.reduce((acc, r) => withPositions(acc, r.userId, { delivered: r.upToSeq }), m),
      );
      return;
    }
    case 'message:read': {
      const { chatId, userId, upToSeq } = event.data;
      members.update(chatId, (m) => withPositions(m, userId, { read: upToSeq }));
      if (userId === me) applyOwnRead(chatId, upToSeq, me, effects);
      return;
    }
    case 'reaction:added':
    case 'reaction:removed': {
      const { chatId, messageId, userId, emoji, version } = event.data;
      const op = event.type === 'reaction:added' ? 'add' : 'remove';
      updateChatMessages(chatId, (cm) => withReaction(cm, messageId, userId, emoji, op, version));
      return;
    }
    case 'typing:start':
      if (event.data.userId !== me) {
        useTypingStore.getState().start(event.data.chatId, event.data.userId, event.data.expiresInMs);
      }
      return;
    case 'typing:stop':
      useTypingStore.getState().stop(event.data.chatId, event.data.userId);
      return;
    case 'presence:online': {
      const previous = usePresenceStore.getState().byUser[event.data.userId];
      setPresence(event.data.userId, { online: true, lastSeenAt: previous?.lastSeenAt ?? null });
      return;
    }
    case 'presence:offline':
      setPresence(event.data.userId, { online: false, lastSeenAt: event.data.lastSeenAt });
      return;
    case 'chat:created': {
      const { chat } = event.data;
      const existing = chats.chats[chat.id];
      if (!existing || chat.lastSeq >= existing.lastSeq) chats.upsert(chat);
      return;
    }
    case 'chat:updated': {
      const info = event.data.chat;
      const before = chats.chats[info.id];
      if (before) chats.update(info.id, (c) => withInfo(c, info));
      if (before?.request?.state === 'pending' && before.request.requestedBy === me && info.request === null)
        effects.requestAccepted?.(info.id);
      // A request asked again after a rejection: the chat comes back (to Requests).
      else if (chats.loaded && isIncomingRequest(info, me)) effects.refreshChat?.(info.id);
      return;
    }
    case 'chat:preferences': {
      const { chatId, preferences } = event.data;
      chats.update(chatId, (c) => ({ ...c, preferences }));
      return;
    }
    case 'chat:deleted':
      forgetChat(event.data.chatId);
      return;
    case 'chat:member_added': {
      const { chatId, members: added, memberCount } = event.data;
      const loaded = members.byChat[chatId];
      if (loaded) {
        const next = upsertMembers(loaded, added);
        members.setMembers(chatId, Object.values(next));
      }
      // A loaded member list is exact even when events are replayed; the event's count is
      // the next best thing.
      const count = loaded
        ? Object.keys(useMembersStore.getState().byChat[chatId] ?? {}).length
        : memberCount;
      chats.update(chatId, (c) => ({ ...c, memberCount: count }));
      usePresenceStore.getState().fromMembers(added);
      return;
    }
    case 'chat:member_removed': {
      const { chatId, userId, memberCount } = event.data;
      if (userId === me) {
        forgetChat(chatId);
        return;
      }
      const loaded = members.byChat[chatId];
      if (loaded) {
        if (!loaded[userId]) return;
        const next = { ...loaded };
        delete next[userId];
        members.setMembers(chatId, Object.values(next));
      }
      const count = loaded
        ? Object.keys(useMembersStore.getState().byChat[chatId] ?? {}).length
        : memberCount;
      chats.update(chatId, (c) => ({ ...c, memberCount: count }));
      useTypingStore.getState().stop(chatId, userId);
      return;
    }
    case 'chat:member_updated': {
      const { chatId, member } = event.data;
      members.update(chatId, (m) => {
        const known = m[member.user.id];
        const merged = known
          ? {
              ...member,
              lastReadSeq: Math.max(known.lastReadSeq, member.lastReadSeq),
              lastDeliveredSeq: Math.max(known.lastDeliveredSeq, member.lastDeliveredSeq),
              // Presence moves with presence events only; this snapshot may be older.
              online: known.online,
              lastSeenAt: known.lastSeenAt,
            }
          : member;
        return { ...m, [member.user.id]: merged };
      });
      if (member.user.id === me) chats.update(chatId, (c) => ({ ...c, myRole: member.role }));
      return;
    }
    case 'contact:request':
      upsertRequest(event.data.request);
      return;
    case 'contact:request_removed':
      dropRequest(event.data.requestId);
      return;
    case 'contact:added': {
      const { contact } = event.data;
      upsertContact(contact);
      usePresenceStore.getState().set(contact.user.id, {
        online: contact.online,
        lastSeenAt: contact.lastSeenAt,
      });
      return;
    }
    case 'contact:removed':
      dropContact(event.data.userId);
      return;
    case 'sync:resync':
      // Handled by the session (it re-fetches from REST).
      return;
  }
}
