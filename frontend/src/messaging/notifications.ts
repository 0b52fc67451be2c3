/**
 * While the tab is hidden, messages from others that the chat's settings let through count
 * up in the title ("(3) Parley") and, if the user allowed it, raise a browser notification.
 * Permission is asked only when the user presses the button for it, never on load.
 */
import type { Chat, Message } from '@parley/contracts';
import { attachmentsText } from '../media/format';
import { isIncomingRequest, isMuted } from './chats-store';

const BASE_TITLE = 'Parley';
let hiddenCount = 0;
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

export function startNotifications(navigateToChat: (chatId: string) => void): () => void {
  openChat = navigateToChat;
  if (!listening) document.addEventListener('visibilitychange', onVisibilityChange);
  listening = true;
  return () => {
    document.removeEventListener('visibilitychange', onVisibilityChange);
    listening = false;
    openChat = null;
    resetUnseen();
  };
}

export function resetUnseen(): void {
  hiddenCount = 0;
  if (typeof document !== 'undefined') document.title = BASE_TITLE;
}

export function unseenCount(): number {
  return hiddenCount;
}

export function notificationsSupported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

/** A new message arrived live: count it and notify if the tab is hidden and the chat lets it through. */
export function noteIncoming(message: Message, chat: Chat | null, me: string): void {
  if (!document.hidden) return;
  const reason = notifyReason(message, chat, me);
  if (!reason) return;
  hiddenCount += 1;
  document.title = `(${hiddenCount}) ${BASE_TITLE}`;
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
