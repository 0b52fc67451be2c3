/**
 * The title counts what is unread ("(3) Parley"): the unread messages of the chats in the
 * main list that are not muted, and — while the tab is hidden — the messages a muted chat
 * still lets through (mentions of me, urgent ones). Messages from others that the chat's
 * settings let through raise a browser notification while the tab is hidden, if the user
 * allowed it. Permission is asked only when the user presses the button for it, never on load.
 */
import type { Chat, Message } from '@parley/contracts';
import { useAuthStore } from '../auth/auth-store';
import { attachmentsText } from '../media/format';
import { chatFolder, isIncomingRequest, isMuted, useChatsStore } from './chats-store';

const BASE_TITLE = 'Parley';
/** Messages from muted chats that got through while the tab was hidden. */
let mutedAlerts = 0;
let openChat: ((chatId: string) => void) | null = null;
let listening = false;

export type NotifyReason = 'message' | 'mention' | 'urgent';

/**
 * Whether a new message should notify me, by the chat's settings (the tab being hidden is
 * the caller's business). Urgent messages always do, even in a muted chat or at "none";
 * a muted chat lets through only mentions of me; "mentions" only those; "none" nothing
 * else. Requests from strangers never notify: they wait in Requests.
 */
export function notifyReason(
  message: Pick<Message, 'kind' | 'senderId' | 'deletedAt' | 'priority' | 'mentions'>,
  chat: Pick<Chat, 'preferences' | 'request'> | null,
  me: string,
  now = Date.now(),
): NotifyReason | null {
  if (message.kind !== 'text' || message.senderId === me || message.deletedAt) return null;
  if (chat && isIncomingRequest(chat, me)) return null;
  if (message.priority === 'urgent') return 'urgent';
  const mentioned = message.mentions.includes(me);
  if (!chat) return mentioned ? 'mention' : 'message';
  const { notify } = chat.preferences;
  if (notify === 'none') return null;
  if (mentioned) return 'mention';
  if (notify === 'mentions' || isMuted(chat.preferences, now)) return null;
  return 'message';
}

function onVisibilityChange(): void {
  if (!document.hidden) resetUnseen();
}

/** Unread messages of the chats in the main list that are not muted. */
export function unreadTotal(chats: Record<string, Chat>, me: string, now = Date.now()): number {
  let total = 0;
  for (const chat of Object.values(chats)) {
    if (chatFolder(chat, me) === 'main' && !isMuted(chat.preferences, now)) total += chat.unreadCount;
  }
  return total;
}

function renderTitle(): void {
  if (typeof document === 'undefined') return;
  const me = useAuthStore.getState().user?.id;
  const n = (me ? unreadTotal(useChatsStore.getState().chats, me) : 0) + mutedAlerts;
  const title = n > 0 ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
  if (document.title !== title) document.title = title;
}

export function startNotifications(navigateToChat: (chatId: string) => void): () => void {
  openChat = navigateToChat;
  if (!listening) document.addEventListener('visibilitychange', onVisibilityChange);
  listening = true;
  const unsubscribe = useChatsStore.subscribe(renderTitle);
  renderTitle();
  return () => {
    unsubscribe();
    document.removeEventListener('visibilitychange', onVisibilityChange);
    listening = false;
    openChat = null;
    resetUnseen();
  };
}

export function resetUnseen(): void {
  mutedAlerts = 0;
  renderTitle();
}

export function notificationsSupported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

/** A new message arrived live: count it and notify if the tab is hidden and the chat lets it through. */
export function noteIncoming(message: Message, chat: Chat | null, me: string): void {
  if (!document.hidden) return;
  const reason = notifyReason(message, chat, me);
  if (!reason) return;
  // Other chats' unread messages are in the title already (unreadTotal).
  if (chat && isMuted(chat.preferences)) {
    mutedAlerts += 1;
    renderTitle();
  }
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  const sender = message.sender?.displayName ?? 'Someone';
  const chatName = chat?.name ?? null;
  const where = chatName && chatName !== sender ? `${sender} in ${chatName}` : sender;
  const title =
    reason === 'urgent'
      ? `Urgent: ${where}`
      : reason === 'mention'
        ? `${sender} mentioned you${chatName && chatName !== sender ? ` in ${chatName}` : ''}`
        : where;
  try {
    const n = new Notification(title, {
      body: message.body.slice(0, 200) || attachmentsText(message.attachments),
      tag: message.chatId,
      ...(reason === 'urgent' ? { requireInteraction: true } : {}),
    });
    n.onclick = () => {
      window.focus();
      openChat?.(message.chatId);
      n.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; the title still counts.
  }
}
