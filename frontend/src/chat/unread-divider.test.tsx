/**
 * Opening a chat with unread messages lands on the first of them under a "New messages"
 * line, not at the bottom; with more unread than the newest page holds, the page from the
 * first unread one is loaded instead of the newest. The list is virtualised: what is in its
 * DOM is what is in view (plus a margin), so where it landed shows in which rows are there.
 */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, chat, id, message } from '../test/chat-fixtures';
import { fakeServer } from '../test/fake-server';
import { ROW_PX, renderAt } from '../test/render-app';
import { testUser } from '../test/stub-network';

const G = id('unread group');

function serverWith(total: number, lastReadSeq: number) {
  return fakeServer({
    chats: [chat(G, { name: 'Busy Room', lastSeq: total, lastReadSeq, unreadCount: total - lastReadSeq })],
    pages: { [G]: Array.from({ length: total }, (_, i) => message(G, i + 1, BOB, `message ${i + 1}`)) },
    users: [],
  });
}

beforeEach(() => {
  // jsdom scrolls nothing: the list's compensation for rows coming in above calls scrollBy.
  Element.prototype.scrollBy ??= function () {};
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
});

const divider = () => screen.findByTestId('new-messages-divider', {}, { timeout: 3000 });
const messageAfter = (line: Element) =>
  line.nextElementSibling?.closest('[data-message-id]') ?? line.nextElementSibling;

describe('opening a chat with unread messages', () => {
  it('shows "New messages" above the first unread one and scrolls there', async () => {
    // 45 messages in the newest page, 25 of them unread; five rows in view.
    const server = serverWith(45, 20);
    renderAt(`/chats/${G}`, { viewportPx: 5 * ROW_PX });
    const line = await divider();
    expect(line).toHaveTextContent('New messages');
    expect(messageAfter(line)).toHaveTextContent('message 21');
    // In view: from the first unread one down; neither the top nor the bottom of the chat.
    await waitFor(() => {
      expect(screen.getByText('message 25')).toBeInTheDocument();
      expect(screen.queryByText('message 1')).toBeNull();
      expect(screen.queryByText('message 45')).toBeNull();
    });
    const pages = server
      .calls('GET', `/api/chats/${G}/messages`)
      .map((c) => new URL(c.url, 'http://x').search);
    expect(pages.every((q) => !q.includes('after='))).toBe(true);
  });

  it('with more unread than a page holds, loads from the first unread one', async () => {
    const server = serverWith(100, 59);
    renderAt(`/chats/${G}`);
    const line = await divider();
    expect(messageAfter(line)).toHaveTextContent('message 60');
    const pages = server
      .calls('GET', `/api/chats/${G}/messages`)
      .map((c) => new URL(c.url, 'http://x').searchParams);
    expect(pages.some((q) => q.get('after') === '59')).toBe(true);
    expect(screen.getByTestId('load-older-button')).toBeInTheDocument();
    expect(screen.queryByText('message 59')).toBeNull();
  });

  it('with nothing unread there is no line', async () => {
    serverWith(10, 10);
    renderAt(`/chats/${G}`);
    await screen.findByText('message 10', {}, { timeout: 3000 });
    expect(screen.queryByTestId('new-messages-divider')).toBeNull();
  });

  it('a message sent from a window short of the newest goes to the newest, where it shows', async () => {
    const server = serverWith(200, 59);
    const u = userEvent.setup();
    renderAt(`/chats/${G}`);
    await divider();
    expect(screen.getByTestId('load-newer-button')).toBeInTheDocument();
    await u.type(screen.getByTestId('composer-input'), 'written from far up{Enter}');
    const list = screen.getByTestId('message-list');
    expect(await within(list).findByText('written from far up')).toBeInTheDocument();
    expect(within(list).getByText('message 200')).toBeInTheDocument();
    expect(screen.queryByTestId('load-newer-button')).toBeNull();
    const latest = server
      .calls('GET', `/api/chats/${G}/messages`)
      .map((c) => new URL(c.url, 'http://x').searchParams)
      .filter((q) => !q.has('after'));
    expect(latest.length).toBeGreaterThan(0);
  });
});
