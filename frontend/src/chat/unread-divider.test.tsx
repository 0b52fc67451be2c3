/**
 * Opening a chat with unread messages lands on the first of them under a "New messages"
 * line, not at the bottom; with more unread than the newest page holds, the page from the
 * first unread one is loaded instead of the newest.
 */
import { screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, chat, id, message } from '../test/chat-fixtures';
import { fakeServer } from '../test/fake-server';
import { renderAt } from '../test/render-app';
import { testUser } from '../test/stub-network';

const G = id('unread group');
let scrolledTo: Element[];

function serverWith(total: number, lastReadSeq: number) {
  return fakeServer({
    chats: [chat(G, { name: 'Busy Room', lastSeq: total, lastReadSeq, unreadCount: total - lastReadSeq })],
    pages: { [G]: Array.from({ length: total }, (_, i) => message(G, i + 1, BOB, `message ${i + 1}`)) },
    users: [],
  });
}

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  scrolledTo = [];
  Element.prototype.scrollIntoView = vi.fn(function (this: Element) {
    scrolledTo.push(this);
  });
});
afterEach(() => {
  delete (Element.prototype as Partial<Element>).scrollIntoView;
});

const divider = () => screen.findByTestId('new-messages-divider', {}, { timeout: 3000 });
const messageAfter = (line: Element) =>
  line.nextElementSibling?.closest('[data-message-id]') ?? line.nextElementSibling;

describe('opening a chat with unread messages', () => {
  it('shows "New messages" above the first unread one and scrolls there', async () => {
    const server = serverWith(30, 20);
    renderAt(`/chats/${G}`);
    const line = await divider();
    expect(line).toHaveTextContent('New messages');
    expect(messageAfter(line)).toHaveTextContent('message 21');
    await waitFor(() => expect(scrolledTo).toContain(line));
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
});
