import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BOB, id, message } from '../test/chat-fixtures';
import { noteIncoming, startNotifications } from './notifications';

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

describe('notifications', () => {
  const m = message(id('notify chat'), 5, BOB, 'are you around?');

  it('counts messages in the title while hidden and resets when visible again', () => {
    setHidden(true);
    noteIncoming(m, 'Bob Baker');
    noteIncoming({ ...m, seq: 6 }, 'Bob Baker');
    expect(document.title).toBe('(2) Parley');
    expect(shown).toEqual([
      { title: 'Bob Baker', options: { body: 'are you around?', tag: m.chatId } },
      { title: 'Bob Baker', options: { body: 'are you around?', tag: m.chatId } },
    ]);
    setHidden(false);
    expect(document.title).toBe('Parley');
  });

  it('does nothing while the tab is visible, and shows no notification without permission', () => {
    noteIncoming(m, 'Team');
    expect(document.title).toBe('Parley');
    FakeNotification.permission = 'default';
    setHidden(true);
    noteIncoming(message(id('notify chat'), 7, BOB, 'hi'), 'Team');
    expect(document.title).toBe('(1) Parley');
    expect(shown).toEqual([]);
    FakeNotification.permission = 'granted';
  });
});
