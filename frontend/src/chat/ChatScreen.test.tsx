/**
 * The chat screen through the whole app (real routes and stores) over a stubbed REST API.
 * The socket never connects here, so every action takes the REST path.
 */
import type { Chat, ChatMember, Message } from '@parley/contracts';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { SEND_RETRIES } from '../messaging/actions';
import {
  BOB,
  CAROL,
  ME,
  at,
  chat,
  id,
  member,
  message,
  names,
  preview,
  systemMessage,
  user,
} from '../test/chat-fixtures';
import { useChatsStore } from '../messaging/chats-store';
import { renderAt } from '../test/render-app';
import { type StubReply, type StubRequest, errorReply, stubNetwork, testUser } from '../test/stub-network';

const D = id('screen direct');
const G = id('screen group');

let chats: Chat[];
let pages: Record<string, Message[]>;
let members: Record<string, ChatMember[]>;
let sendReplies: StubReply[];
let requests: StubRequest[];

function setup() {
  const net = stubNetwork((req) => {
    const url = new URL(req.url, 'http://parley.test');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/api/chats')
      return {
        status: 200,
        body: { chats: url.searchParams.get('archived') === 'true' ? [] : chats, nextCursor: null },
      };
    if (req.method === 'GET' && path === '/api/chats/requests') return { status: 200, body: { chats: [] } };
    const m = path.match(/^\/api\/chats\/([^/]+)(\/[a-z]+)?$/);
    if (m) {
      const [, chatId, sub] = m;
      if (!sub && req.method === 'GET') {
        const c = chats.find((x) => x.id === chatId);
        return c ? { status: 200, body: c } : errorReply(404, 'NOT_FOUND', 'Not found.');
      }
      if (sub === '/members') return { status: 200, body: { members: members[chatId!] ?? [] } };
      if (sub === '/read') {
        const upToSeq = (req.body as { upToSeq: number }).upToSeq;
        return { status: 200, body: { chatId, lastReadSeq: upToSeq, unreadCount: 0 } };
      }
      if (sub === '/messages' && req.method === 'GET') {
        const all = pages[chatId!] ?? [];
        const around = url.searchParams.get('around');
        if (around && !all.some((x) => x.id === around)) return errorReply(404, 'NOT_FOUND', 'Not found.');
        return { status: 200, body: { messages: all, hasMoreBefore: false, hasMoreAfter: false } };
      }
      if (sub === '/messages' && req.method === 'POST') {
        const reply = sendReplies.shift();
        if (reply) return reply;
        const body = req.body as { clientMsgId: string; body: string };
        const next = (pages[chatId!]?.length ?? 0) + 1;
        return {
          status: 201,
          body: message(chatId!, next, ME, body.body, { clientMsgId: body.clientMsgId }),
        };
      }
    }
    return errorReply(404, 'NOT_FOUND', 'Not found.');
  });
  requests = net.requests;
}

const d1 = message(D, 1, ME, 'are you there?');
const d2 = message(D, 2, BOB, 'yes, **here**', { editedAt: at(3), version: 2 });

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  const g1 = systemMessage(G, 1, { action: 'member_added', actorId: ME, userIds: [BOB, CAROL], value: null });
  const g2 = message(G, 2, ME, 'welcome both');
  const g3 = message(G, 3, CAROL, '', { deletedAt: at(5), version: 2 });
  chats = [
    chat(D, {
      kind: 'direct',
      name: names[BOB]!,
      memberCount: 2,
      myRole: 'member',
      peer: user(BOB),
      lastSeq: 2,
      lastActivityAt: at(2),
      lastMessage: preview(d2),
      lastReadSeq: 1,
      unreadCount: 1,
    }),
    chat(G, { lastSeq: 3, lastActivityAt: at(1), lastMessage: preview(g3, ''), lastReadSeq: 3 }),
  ];
  pages = { [D]: [d1, d2], [G]: [g1, g2, g3] };
  members = {
    [D]: [member(ME, 'member', 1, 2, true), member(BOB, 'member', 1, 2, true)],
    [G]: [member(ME, 'owner', 3), member(BOB, 'member', 2), member(CAROL, 'member', 1)],
  };
  sendReplies = [];
  setup();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const messageEls = () => screen.getAllByTestId('message');
const sendPosts = () => requests.filter((r) => r.method === 'POST' && r.url === `/api/chats/${D}/messages`);
/**
 * Types a message and sends it with Enter, with setTimeout fake from the Enter on: a send's
 * wait is stepped through, the rest of the screen runs as usual. Testing Library lets React
 * settle on a timeout of its own and steps it through a `jest` global only, which Vitest
 * does not define: the stub gives it one.
 */
async function writeAndSend(text: string) {
  const input = screen.getByTestId('composer-input');
  await userEvent.setup().type(input, text);
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  vi.stubGlobal('jest', { advanceTimersByTime: (ms: number) => vi.advanceTimersByTime(ms) });
  fireEvent.keyDown(input, { key: 'Enter' });
}
const busy = (retryAfterMs: number) =>
  errorReply(503, 'SERVICE_UNAVAILABLE', 'The server is busy. Try again in a moment.', { retryAfterMs });

describe('chat screen', () => {
  it('lists chats by recent activity with unread badges, and opening one marks it read', async () => {
    const user = userEvent.setup();
    const router = renderAt('/');
    const list = await screen.findByTestId('chat-list');
    const items = await within(list).findAllByTestId('chat-list-item');
    expect(items.map((el) => el.dataset.chatId)).toEqual([D, G]);
    expect(within(items[0]!).getByTestId('unread-badge')).toHaveTextContent('1');
    expect(within(items[0]!).getByTestId('chat-list-item-preview')).toHaveTextContent(/^yes, here$/);
    expect(within(items[1]!).getByTestId('chat-list-item-preview')).toHaveTextContent(
      'This message was deleted',
    );

    await user.click(items[0]!);
    expect(router.state.location.pathname).toBe(`/chats/${D}`);
    expect(await screen.findByTestId('chat-title')).toHaveTextContent('Bob Baker');
    await waitFor(() => expect(messageEls()).toHaveLength(2));
    const [first, second] = messageEls();
    expect(second).toHaveAttribute('data-seq', '2');
    expect(within(second!).getByTestId('message-body').querySelector('strong')).toHaveTextContent('here');
    expect(within(second!).getByTestId('message-edited')).toHaveTextContent('(edited)');
    // My message: Bob's device has it, he has read it.
    await waitFor(() => expect(first).toHaveAttribute('data-status', 'read'));

    await waitFor(() => expect(requests.some((r) => r.url === `/api/chats/${D}/read`)).toBe(true));
    expect(requests.find((r) => r.url === `/api/chats/${D}/read`)?.body).toEqual({ upToSeq: 2 });
    await waitFor(() => expect(within(list).queryByTestId('unread-badge')).toBeNull());
  });

  it('sends over REST while the socket is down; a busy server gets the same message again by itself', async () => {
    sendReplies = [busy(10_000)];
    renderAt(`/chats/${D}`);
    await waitFor(() => expect(messageEls()).toHaveLength(2));

    await writeAndSend('new **message**');
    expect(screen.getByTestId('composer-input')).toHaveValue('');
    // Refused as busy: a while later it is still on its way (clock), with no error and no Retry.
    await act(() => vi.advanceTimersByTimeAsync(5_000));
    expect(sendPosts()).toHaveLength(1);
    const sending = messageEls()[2]!;
    expect(sending).toHaveAttribute('data-status', 'pending');
    expect(within(sending).getByTestId('receipt')).toHaveAttribute('data-receipt', 'pending');
    expect(within(sending).queryByRole('alert')).toBeNull();

    await act(() => vi.advanceTimersByTimeAsync(5_000));
    await waitFor(() => expect(messageEls()[2]).toHaveAttribute('data-seq', '3'));
    expect(messageEls()).toHaveLength(3);
    expect(messageEls()[2]!.dataset.status).toBe('sent');
    expect(sendPosts()).toHaveLength(2);
    const [first, again] = sendPosts().map((p) => p.body as { clientMsgId: string; body: string });
    expect(first!.clientMsgId).toMatch(/^[0-9a-f-]{36}$/);
    expect(again!.clientMsgId).toBe(first!.clientMsgId);
    expect(again!.body).toBe('new **message**');
  });

  it('shows a send the server stayed too busy for as failed; Retry sends it again with the same clientMsgId', async () => {
    sendReplies = Array.from({ length: SEND_RETRIES + 1 }, () => busy(10_000));
    renderAt(`/chats/${D}`);
    await waitFor(() => expect(messageEls()).toHaveLength(2));

    await writeAndSend('new **message**');
    for (let sent = 1; sent <= SEND_RETRIES; sent++) {
      await act(() => vi.advanceTimersByTimeAsync(5_000));
      expect(sendPosts()).toHaveLength(sent);
      expect(messageEls()[2]).toHaveAttribute('data-status', 'pending');
      await act(() => vi.advanceTimersByTimeAsync(5_000));
    }
    const failed = await waitFor(() => {
      const el = messageEls().find((x) => x.dataset.status === 'failed');
      expect(el).toBeDefined();
      return el!;
    });
    expect(within(failed).getByRole('alert')).toHaveTextContent('The server is busy. Try again in a moment.');
    expect(sendPosts()).toHaveLength(SEND_RETRIES + 1);

    fireEvent.click(within(failed).getByTestId('retry-button'));
    await waitFor(() => expect(messageEls()[2]).toHaveAttribute('data-seq', '3'));
    const sent = messageEls()[2]!;
    expect(sent.dataset.status).toBe('sent');
    expect(within(sent).getByTestId('receipt')).toHaveAttribute('data-receipt', 'sent');
    expect(sendPosts()).toHaveLength(SEND_RETRIES + 2);
    const clientMsgIds = new Set(sendPosts().map((p) => (p.body as { clientMsgId: string }).clientMsgId));
    expect(clientMsgIds.size).toBe(1);
  });

  it('opens a deep link around the message and highlights it', async () => {
    renderAt(`/chats/${D}/messages/${d1.id}`);
    const target = await waitFor(() => {
      const el = messageEls().find((x) => x.dataset.messageId === d1.id);
      expect(el).toBeDefined();
      return el!;
    });
    expect(target).toHaveClass('message--highlight');
    const list = requests.find((r) => r.url.startsWith(`/api/chats/${D}/messages?`));
    expect(new URL(list!.url, 'http://x').searchParams.get('around')).toBe(d1.id);
  });

  it('a deep link to a message no longer there opens the chat at its newest, with a notice', async () => {
    renderAt(`/chats/${D}/messages/${id('gone message')}`);
    expect(await screen.findByTestId('message-list-notice')).toHaveTextContent(
      'That message is not in this chat any more',
    );
    await waitFor(() => expect(messageEls().map((x) => x.dataset.messageId)).toContain(d2.id));
    expect(screen.queryByTestId('message-list-error')).toBeNull();
    expect(screen.queryByTestId('chat-not-found')).toBeNull();
  });

  it('shows system lines, tombstones and "read by N of M" in a group', async () => {
    renderAt(`/chats/${G}`);
    expect(await screen.findByTestId('system-message')).toHaveTextContent(
      'Ada Lovelace added Bob Baker and Carol Chen',
    );
    await waitFor(() => expect(messageEls()).toHaveLength(2));
    const [mine, deleted] = messageEls();
    expect(within(deleted!).getByTestId('message-deleted')).toHaveTextContent('This message was deleted');
    expect(within(deleted!).queryByTestId('message-body')).toBeNull();
    // Bob read up to 2, Carol up to 1: one of the two others read my message (seq 2).
    expect(await within(mine!).findByTestId('read-by')).toHaveTextContent('Read by 1 of 2');
    expect(screen.getByTestId('chat-subtitle')).toHaveTextContent('3 members');
    expect(screen.getByTestId('group-settings-button')).toBeVisible();
  });

  it('copies a link to a message and puts a reply quote in the composer', async () => {
    const user = userEvent.setup();
    renderAt(`/chats/${D}`);
    await waitFor(() => expect(messageEls()).toHaveLength(2));
    const second = messageEls()[1]!;

    await user.click(within(second).getByTestId('message-menu-button'));
    // The message's menu (over the page): not my message, so no edit, no delete for
    // everyone in a direct chat.
    const menu = screen.getByTestId('message-menu');
    expect(within(menu).queryByTestId('edit-button')).toBeNull();
    expect(within(menu).queryByTestId('delete-everyone-button')).toBeNull();
    await user.click(within(menu).getByTestId('copy-link-button'));
    await expect(navigator.clipboard.readText()).resolves.toBe(
      `${location.origin}/chats/${D}/messages/${d2.id}`,
    );
    expect(await screen.findByTestId('toast')).toHaveTextContent('Link copied');

    await user.click(within(second).getByTestId('reply-button'));
    expect(screen.getByTestId('reply-bar')).toHaveTextContent('Replying to Bob Baker');
    await user.click(screen.getByTestId('cancel-reply-button'));
    expect(screen.queryByTestId('reply-bar')).toBeNull();
  });

  it('menus work from the keyboard: Enter opens, arrows move, Escape closes and focus goes back', async () => {
    const user = userEvent.setup();
    renderAt(`/chats/${D}`);
    await waitFor(() => expect(messageEls()).toHaveLength(2));
    const more = within(messageEls()[1]!).getByTestId('message-menu-button');
    more.focus();
    await user.keyboard('{Enter}');
    const menu = await screen.findByTestId('message-menu');
    const items = within(menu).getAllByRole('menuitem');
    await waitFor(() => expect(items[0]).toHaveFocus());
    await user.keyboard('{ArrowDown}');
    expect(items[1]).toHaveFocus();
    await user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByTestId('message-menu')).toBeNull());
    await waitFor(() => expect(more).toHaveFocus());

    // The chat's ⋯ menu too.
    const options = screen.getByTestId('chat-menu-button');
    options.focus();
    await user.keyboard('{Enter}');
    const chatMenu = await screen.findByTestId('chat-menu');
    await waitFor(() => expect(chatMenu.contains(document.activeElement)).toBe(true));
    await user.keyboard('{ArrowDown}');
    expect(chatMenu.contains(document.activeElement)).toBe(true);
    await user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByTestId('chat-menu')).toBeNull());
    await waitFor(() => expect(options).toHaveFocus());
  });

  it('↑ in the empty composer edits my last message; not once something is typed', async () => {
    const user = userEvent.setup();
    renderAt(`/chats/${D}`);
    const input = await screen.findByTestId('composer-input');
    await screen.findByText('are you there?');
    await user.click(input);
    await user.type(input, 'x');
    await user.keyboard('{ArrowUp}');
    expect(screen.queryByText(/Editing message/i)).toBeNull();
    await user.clear(input);
    await user.keyboard('{ArrowUp}');
    expect(await screen.findByTestId('composer-input')).toHaveValue('are you there?');
    expect(screen.getByLabelText('Cancel editing')).toBeInTheDocument();
  });

  it('says so when the chat does not exist', async () => {
    renderAt(`/chats/${id('nobody knows')}`);
    expect(await screen.findByTestId('chat-not-found')).toBeVisible();
    await act(async () => {});
  });

  it('a chat not found while I was out of it shows once I am added back', async () => {
    const back = chat(id('added back'), { name: 'Back Room', lastSeq: 0 });
    renderAt(`/chats/${back.id}`);
    expect(await screen.findByTestId('chat-not-found')).toBeVisible();
    // Added back: the chat arrives (chat:created) while its page is open.
    chats.push(back);
    act(() => useChatsStore.getState().upsert(back));
    expect(await screen.findByTestId('chat-title')).toHaveTextContent('Back Room');
    expect(screen.queryByTestId('chat-not-found')).toBeNull();
  });
});
