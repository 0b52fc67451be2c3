/**
 * Disappearing messages leave the screen at their `expiresAt` by this device's clock, even
 * if the server's message:expired is late or lost (it removes them too; whichever comes
 * first wins, the other changes nothing). One timer, set for the soonest expiry.
 */
import { countsAsUnread, previewOf, useChatsStore } from './chats-store';
import { nextExpiry, useMessagesStore, withoutExpired } from './messages-store';

/** The longest a timer waits before looking again (setTimeout cannot wait 90 days). */
const MAX_WAIT_MS = 60 * 60_000;

/** Remove every loaded message whose time has come; fix the list previews and unread counts. */
export function expireDue(nowMs: number, me: string): void {
  const messages = useMessagesStore.getState();
  const chats = useChatsStore.getState();
  for (const [chatId, cm] of Object.entries(messages.byChat)) {
    const next = withoutExpired(cm, nowMs);
    if (next === cm) continue;
    const gone = cm.order.filter((id) => !next.byId[id]).map((id) => cm.byId[id]!);
    messages.update(chatId, () => next);
    chats.update(chatId, (chat) => {
      const unreadGone = gone.filter((m) => m.seq > chat.lastReadSeq && countsAsUnread(m, me)).length;
      let lastMessage = chat.lastMessage;
      if (lastMessage && gone.some((m) => m.id === lastMessage?.id)) {
        // The window reaches the newest message: the one before is the new preview.
        const newest = !next.hasMoreAfter ? next.byId[next.order[next.order.length - 1] ?? ''] : undefined;
        lastMessage = newest ? previewOf(newest) : null;
      }
      if (unreadGone === 0 && lastMessage === chat.lastMessage) return chat;
      return { ...chat, lastMessage, unreadCount: Math.max(0, chat.unreadCount - unreadGone) };
    });
  }
}

export function startExpiryClock(me: () => string, now: () => number = Date.now): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let due: number | null = null;

  const schedule = () => {
    const next = nextExpiry(useMessagesStore.getState().byChat);
    if (next === due && (timer || next === null)) return;
    if (timer) clearTimeout(timer);
    timer = null;
    due = next;
    if (next === null) return;
    timer = setTimeout(fire, Math.min(MAX_WAIT_MS, Math.max(0, next - now())));
  };
  const fire = () => {
    timer = null;
    due = null;
    expireDue(now(), me());
    schedule();
  };

  const unsubscribe = useMessagesStore.subscribe(schedule);
  schedule();
  return () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
