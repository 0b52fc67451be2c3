import type { Chat, Message } from '@parley/contracts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, CAROL, ME, chat, id, message } from '../test/chat-fixtures';
import { testUser } from '../test/stub-network';
import { useChatsStore } from './chats-store';
import { noteIncoming, notifyReason, startNotifications } from './notifications';

function setHidden(hidden: boolean) {
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(document, 'visibilityState', {
    configurable: true,
    get: () => (hidden ? 'hidden' : 'visible'),
  });
  document.dispatchEvent(new Event('visibilitychange'));
}

const shown: { title: string; options: NotificationOptions | undefined }[] = [];
class FakeNotification {
  static permission: NotificationPermission = 'granted';
  onclick: (() => void) | null = null;
  constructor(title: string, options?: NotificationOptions) {
    shown.push({ title, options });
  }
  close() {}
}

let stop: () => void = () => {};
beforeEach(() => {
  shown.length = 0;
  vi.stubGlobal('Notification', FakeNotification);
  stop = startNotifications(() => {});
});
afterEach(() => {
  stop();
  setHidden(false);
  vi.unstubAllGlobals();
});

const C = id('notify chat');
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const inAnHour = new Date(NOW + 3_600_000).toISOString();
const anHourAgo = new Date(NOW - 3_600_000).toISOString();

function prefs(p: Partial<Chat['preferences']>): Chat {
  return chat(C, { preferences: { archived: false, mutedUntil: null, notify: 'all', ...p } });
}
function msg(extra: Partial<Message> = {}): Message {
  return message(C, 5, BOB, 'are you around?', extra);
}
const plain = msg();
const mention = msg({ mentions: [ME] });
const otherMention = msg({ mentions: [CAROL] });
const urgent = msg({ priority: 'urgent' });
const high = msg({ priority: 'high' });

describe('notifyReason: which messages notify', () => {
  const reason = (m: Message, c: Chat | null) => notifyReason(m, c, ME, NOW);

  it('notify "all", not muted: every message from someone else', () => {
    const c = prefs({});
    expect(reason(plain, c)).toBe('message');
    expect(reason(high, c)).toBe('message');
    expect(reason(otherMention, c)).toBe('message');
    expect(reason(mention, c)).toBe('mention');
    expect(reason(urgent, c)).toBe('urgent');
  });

  it('never my own messages, system lines or deleted messages', () => {
    const c = prefs({});
    expect(reason(msg({ senderId: ME, priority: 'urgent' }), c)).toBeNull();
    expect(reason(msg({ kind: 'system', senderId: null }), c)).toBeNull();
    expect(reason(msg({ deletedAt: '2026-03-01T11:00:00.000Z' }), c)).toBeNull();
  });

  it('notify "mentions": only mentions of me, and urgent messages', () => {
    const c = prefs({ notify: 'mentions' });
    expect(reason(plain, c)).toBeNull();
    expect(reason(high, c)).toBeNull();
    expect(reason(otherMention, c)).toBeNull();
    expect(reason(mention, c)).toBe('mention');
    expect(reason(urgent, c)).toBe('urgent');
  });

  it('notify "none": nothing but urgent messages, not even mentions', () => {
    const c = prefs({ notify: 'none' });
    expect(reason(plain, c)).toBeNull();
    expect(reason(mention, c)).toBeNull();
    expect(reason(urgent, c)).toBe('urgent');
    expect(reason(msg({ priority: 'urgent', mentions: [ME] }), c)).toBe('urgent');
  });

  it('muted forever: mentions of me and urgent messages still notify', () => {
    const c = prefs({ mutedUntil: 'forever' });
    expect(reason(plain, c)).toBeNull();
    expect(reason(high, c)).toBeNull();
    expect(reason(otherMention, c)).toBeNull();
    expect(reason(mention, c)).toBe('mention');
    expect(reason(urgent, c)).toBe('urgent');
  });

  it('muted until a time: muted before it, normal after it', () => {
    expect(reason(plain, prefs({ mutedUntil: inAnHour }))).toBeNull();
    expect(reason(mention, prefs({ mutedUntil: inAnHour }))).toBe('mention');
    expect(reason(plain, prefs({ mutedUntil: anHourAgo }))).toBe('message');
    expect(reason(plain, prefs({ mutedUntil: new Date(NOW).toISOString() }))).toBe('message');
  });

  it('muted and "mentions" together: mentions and urgent; muted and "none": urgent only', () => {
    expect(reason(mention, prefs({ mutedUntil: 'forever', notify: 'mentions' }))).toBe('mention');
    expect(reason(plain, prefs({ mutedUntil: 'forever', notify: 'mentions' }))).toBeNull();
    expect(reason(mention, prefs({ mutedUntil: 'forever', notify: 'none' }))).toBeNull();
    expect(reason(urgent, prefs({ mutedUntil: 'forever', notify: 'none' }))).toBe('urgent');
  });

  it('archiving alone does not silence a chat', () => {
    expect(reason(plain, prefs({ archived: true }))).toBe('message');
  });

  it('a chat request from a stranger waits in Requests silently, urgent or not', () => {
    const request = chat(C, { kind: 'direct', request: { state: 'pending', requestedBy: BOB } });
    expect(reason(plain, request)).toBeNull();
    expect(reason(urgent, request)).toBeNull();
    // My own request, answered by the other person writing back: a normal message.
    const mine = chat(C, { kind: 'direct', request: { state: 'pending', requestedBy: ME } });
    expect(reason(plain, mine)).toBe('message');
  });

  it('a chat the client does not know yet notifies as "all"', () => {
    expect(reason(plain, null)).toBe('message');
    expect(reason(mention, null)).toBe('mention');
  });
});

describe('the title: unread messages', () => {
  it('counts the unread messages of the chats in the main list that are not muted', () => {
    useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
    const plainChat = chat(id('title plain'), { unreadCount: 2 });
    useChatsStore.getState().setAll([
      plainChat,
      chat(id('title direct'), { kind: 'direct', unreadCount: 3 }),
      chat(id('title muted'), {
        unreadCount: 5,
        preferences: { archived: false, mutedUntil: 'forever', notify: 'all' },
      }),
      chat(id('title archived'), {
        unreadCount: 7,
        preferences: { archived: true, mutedUntil: null, notify: 'all' },
      }),
      chat(id('title request'), { unreadCount: 1, request: { state: 'pending', requestedBy: BOB } }),
    ]);
    expect(document.title).toBe('(5) Parley');
    useChatsStore.getState().upsert({ ...plainChat, unreadCount: 0 });
    expect(document.title).toBe('(3) Parley');
    useChatsStore.getState().clear();
    expect(document.title).toBe('Parley');
  });
});

describe('noteIncoming: browser notifications, and muted chats in the title', () => {
  it('notifies while hidden; the message counts in the title through its chat, not twice', () => {
    setHidden(true);
    noteIncoming(plain, chat(C, { kind: 'direct', name: 'Bob Baker' }), ME);
    noteIncoming({ ...plain, seq: 6 }, chat(C, { kind: 'direct', name: 'Bob Baker' }), ME);
    expect(document.title).toBe('Parley');
    expect(shown).toEqual([
      { title: 'Bob Baker', options: { body: 'are you around?', tag: C } },
      { title: 'Bob Baker', options: { body: 'are you around?', tag: C } },
    ]);
  });

  it('does nothing while the tab is visible, and shows no notification without permission', () => {
    noteIncoming(plain, prefs({}), ME);
    expect(shown).toEqual([]);
    FakeNotification.permission = 'default';
    setHidden(true);
    noteIncoming(msg({ seq: 7, body: 'hi' }), prefs({}), ME);
    expect(shown).toEqual([]);
    FakeNotification.permission = 'granted';
  });

  it('a muted chat neither counts nor notifies, except a mention of me or an urgent message, until the tab is seen', () => {
    setHidden(true);
    const team = { ...prefs({ mutedUntil: 'forever' }), name: 'Team' };
    noteIncoming(plain, team, ME);
    expect(document.title).toBe('Parley');
    expect(shown).toEqual([]);
    noteIncoming(msg({ seq: 8, body: '@ada look', mentions: [ME] }), team, ME);
    noteIncoming(msg({ seq: 9, body: 'server down', priority: 'urgent' }), team, ME);
    expect(document.title).toBe('(2) Parley');
    expect(shown.map((n) => n.title)).toEqual([
      'Bob Baker mentioned you in Team',
      'Urgent: Bob Baker in Team',
    ]);
    expect(shown[1]?.options).toMatchObject({ requireInteraction: true });
    setHidden(false);
    expect(document.title).toBe('Parley');
  });
});
