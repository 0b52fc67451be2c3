/** Disappearing messages leave by the client's clock, and the server's message:expired agrees. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BOB, ME, at, chat, id, message, preview } from '../test/chat-fixtures';
import { applyEvent } from './apply-event';
import { useChatsStore } from './chats-store';
import { expireDue, startExpiryClock } from './expiry';
import { nextExpiry, updateChatMessages, useMessagesStore, withPage, withoutExpired } from './messages-store';

const C = id('disappearing chat');
const m1 = message(C, 1, BOB, 'stays');
const m2 = message(C, 2, BOB, 'goes at 10:20', { expiresAt: at(20) });
const m3 = message(C, 3, BOB, 'goes at 10:40', { expiresAt: at(40) });

function load() {
  useChatsStore.getState().setAll([
    chat(C, {
      lastSeq: 3,
      lastActivityAt: at(3),
      lastMessage: preview(m3),
      lastReadSeq: 1,
      unreadCount: 2,
    }),
  ]);
  useMessagesStore.getState().clear();
  updateChatMessages(C, (cm) =>
    withPage(cm, { messages: [m1, m2, m3], hasMoreBefore: false, hasMoreAfter: false }, 'replace'),
  );
}
const ids = () => useMessagesStore.getState().byChat[C]!.order;

beforeEach(load);
afterEach(() => vi.useRealTimers());

describe('disappearing messages', () => {
  it('withoutExpired drops what is due, and nothing else; nextExpiry finds the soonest', () => {
    const cm = useMessagesStore.getState().byChat[C]!;
    expect(nextExpiry({ [C]: cm })).toBe(Date.parse(at(20)));
    expect(withoutExpired(cm, Date.parse(at(19)))).toBe(cm);
    const after = withoutExpired(cm, Date.parse(at(20)));
    expect(after.order).toEqual([m1.id, m3.id]);
    expect(after.byId[m2.id]).toBeUndefined();
    expect(nextExpiry({ [C]: after })).toBe(Date.parse(at(40)));
    expect(nextExpiry({ [C]: withoutExpired(cm, Date.parse(at(50))) })).toBeNull();
  });

  it('expireDue fixes the unread count and the list preview', () => {
    expireDue(Date.parse(at(45)), ME);
    expect(ids()).toEqual([m1.id]);
    const c = useChatsStore.getState().chats[C]!;
    expect(c.unreadCount).toBe(0);
    expect(c.lastMessage).toEqual(preview(m1));
  });

  it('the clock removes each message at its time, then the server event changes nothing', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(at(10)));
    const stop = startExpiryClock(() => ME);
    vi.advanceTimersByTime(10 * 60_000 - 1);
    expect(ids()).toEqual([m1.id, m2.id, m3.id]);
    vi.advanceTimersByTime(1);
    expect(ids()).toEqual([m1.id, m3.id]);
    vi.advanceTimersByTime(20 * 60_000);
    expect(ids()).toEqual([m1.id]);

    const refreshChat = vi.fn();
    const before = useMessagesStore.getState().byChat[C];
    applyEvent({ type: 'message:expired', data: { chatId: C, messageIds: [m2.id, m3.id] } }, ME, {
      refreshChat,
    });
    expect(useMessagesStore.getState().byChat[C]).toBe(before);
    expect(refreshChat).toHaveBeenCalledWith(C);
    stop();
  });

  it('message:expired alone (a clock behind the server) removes them too', () => {
    applyEvent({ type: 'message:expired', data: { chatId: C, messageIds: [m2.id] } }, ME, {});
    expect(ids()).toEqual([m1.id, m3.id]);
  });

  it('a message arriving later is scheduled too', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(at(41)));
    updateChatMessages(C, (cm) => withoutExpired(cm, Date.now()));
    const stop = startExpiryClock(() => ME);
    const m4 = message(C, 4, BOB, 'short-lived', { expiresAt: at(42) });
    applyEvent({ type: 'message:new', data: { message: m4 } }, ME, {});
    expect(ids()).toEqual([m1.id, m4.id]);
    vi.advanceTimersByTime(60_000);
    expect(ids()).toEqual([m1.id]);
    stop();
  });
});
