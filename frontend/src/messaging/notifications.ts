/**
 * While the tab is hidden, messages from others count up in the title ("(3) Parley") and,
 * if the user allowed it, raise a browser notification. Permission is asked only when the
 * user presses the button for it, never on load.
 */
import type { Message } from '@parley/contracts';

const BASE_TITLE = 'Parley';
let hiddenCount = 0;
let openChat: ((chatId: string) => void) | null = null;
let listening = false;

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

/** A message from someone else arrived live. */
export function noteIncoming(message: Message, chatName: string | null): void {
  if (!document.hidden) return;
  hiddenCount += 1;
  document.title = `(${hiddenCount}) ${BASE_TITLE}`;
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  const sender = message.sender?.displayName ?? 'Someone';
  const title = chatName && chatName !== sender ? `${sender} in ${chatName}` : sender;
  try {
    const n = new Notification(title, { body: message.body.slice(0, 200), tag: message.chatId });
    n.onclick = () => {
      window.focus();
      openChat?.(message.chatId);
      n.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; the title still counts.
  }
}
