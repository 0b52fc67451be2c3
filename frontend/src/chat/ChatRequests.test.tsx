/**
 * The chat screen for issue-4 features over a fake REST server: the Requests and Archived
 * lists, the request banner, blocking, refused sends, the chat menu (archive, mute,
 * disappearing messages), and how mentions and priorities look.
 */
import type { Chat, Message } from '@parley/contracts';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, CAROL, ME, at, chat, id, member, message, names, preview, user } from '../test/chat-fixtures';
import { fakeServer } from '../test/fake-server';
import { FakeSocket } from '../test/fake-socket';
import { useConnectionStore } from '../realtime/connection-store';
import { renderAt } from '../test/render-app';
import { errorReply, testUser } from '../test/stub-network';
import { showChatList } from './ChatList';

const R = id('req screen request');
const D = id('req screen direct');
const G = id('req screen group');
const A = id('req screen archived');

const r1 = message(R, 1, BOB, 'hello, do you have a minute?');
const d1 = message(D, 1, CAROL, 'lunch?');
const g1 = message(G, 1, BOB, '@ada can you look?', { mentions: [ME] });
const g2 = message(G, 2, CAROL, 'the build is broken', { priority: 'urgent' });
const g3 = message(G, 3, BOB, 'fyi', { priority: 'high' });
const a1 = message(A, 1, CAROL, 'old news');

function direct(chatId: string, peer: string, extra: Partial<Chat> = {}): Chat {
  return chat(chatId, {
    kind: 'direct',
    name: names[peer]!,
    memberCount: 2,
    myRole: 'member',
    peer: user(peer),
    ...extra,
  });
}

let server: ReturnType<typeof fakeServer>;

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  showChatList('main');
  server = fakeServer({
    chats: [
      direct(R, BOB, {
        request: { state: 'pending', requestedBy: BOB },
        lastSeq: 1,
        lastActivityAt: at(5),
        lastMessage: preview(r1),
        unreadCount: 1,
      }),
      direct(D, CAROL, { lastSeq: 1, lastActivityAt: at(4), lastMessage: preview(d1), lastReadSeq: 1 }),
      chat(G, {
        name: 'Team',
        myRole: 'member',
        lastSeq: 3,
        lastActivityAt: at(3),
        lastMessage: preview(g3),
        unreadCount: 3,
      }),
      chat(A, {
        name: 'Old project',
        lastSeq: 1,
        lastActivityAt: at(1),
        lastMessage: preview(a1),
        unreadCount: 1,
        preferences: { archived: true, mutedUntil: null, notify: 'all' },
      }),
    ],
    pages: { [R]: [r1], [D]: [d1], [G]: [g1, g2, g3], [A]: [a1] },
    members: {
      [R]: [member(ME, 'member', 0), member(BOB, 'member', 1)],
      [D]: [member(ME, 'member', 1), member(CAROL, 'member', 1)],
      [G]: [member(ME, 'member', 0), member(BOB, 'owner', 3), member(CAROL, 'member', 3)],
    },
    users: [user(BOB), user(CAROL)],
  });
});

/** A message's text in the open chat (the list shows previews of the same words). */
const shown = async (text: string) => within(await screen.findByTestId('message-list')).findByText(text);

const listIds = () =>
  within(screen.getByTestId('chat-list'))
    .queryAllByTestId('chat-list-item')
    .map((el) => el.dataset.chatId);

describe('chat requests', () => {
  it('wait in their own tab, unread until accepted; accepting moves the chat to the main list', async () => {
    const u = userEvent.setup();
    renderAt('/');
    await waitFor(() => expect(listIds()).toEqual([D, G]));
    expect(screen.getByTestId('chat-tab-requests-count')).toHaveTextContent('1');
    // Archived shows how many archived chats have something unread.
    expect(screen.getByTestId('chat-tab-archived-count')).toHaveTextContent('1');

    await u.click(screen.getByTestId('chat-tab-requests'));
    expect(listIds()).toEqual([R]);
    await u.click(screen.getAllByTestId('chat-list-item')[0]!);
    const banner = await screen.findByTestId('chat-request-banner');
    expect(banner).toHaveTextContent('Bob Baker wants to chat');
    expect(await shown('hello, do you have a minute?')).toBeVisible();
    expect(screen.queryByTestId('composer')).toBeNull();
    await new Promise((r) => setTimeout(r, 50));
    expect(server.calls('POST', `/api/chats/${R}/read`)).toHaveLength(0);

    await u.click(within(banner).getByTestId('request-accept-button'));
    await screen.findByTestId('composer');
    expect(screen.queryByTestId('chat-request-banner')).toBeNull();
    expect(server.calls('POST', `/api/chats/${R}/accept`)).toHaveLength(1);
    await waitFor(() => expect(listIds()).toEqual([R, D, G]));
    expect(screen.queryByTestId('chat-tab-requests')).toBeNull();
    // Accepted: now it may be read.
    await waitFor(() => expect(server.calls('POST', `/api/chats/${R}/read`)).toHaveLength(1));
    // And Bob may become a contact, if I want.
    const offer = await screen.findByTestId('contact-offer');
    expect(offer).toHaveTextContent('Add Bob Baker to your contacts?');
    await u.click(within(offer).getByTestId('contact-offer-add'));
    await waitFor(() => expect(screen.queryByTestId('contact-offer')).toBeNull());
    expect(server.calls('POST', '/api/contacts/requests')).toHaveLength(1);
    expect(server.calls('POST', '/api/contacts/requests')[0]!.body).toEqual({ userId: BOB });
  });

  it('rejecting leaves the chat list and goes home', async () => {
    const u = userEvent.setup();
    const router = renderAt(`/chats/${R}`);
    await u.click(await screen.findByTestId('request-reject-button'));
    await waitFor(() => expect(router.state.location.pathname).toBe('/'));
    expect(server.calls('POST', `/api/chats/${R}/reject`)).toHaveLength(1);
    expect(screen.queryByTestId('chat-tab-requests')).toBeNull();
  });

  it('blocking from the banner hides the request and shows "You blocked"; Unblock brings it back', async () => {
    const u = userEvent.setup();
    renderAt(`/chats/${R}`);
    await u.click(await screen.findByTestId('request-block-button'));
    // Blocking asks first.
    const ask = await screen.findByTestId('confirm-dialog');
    expect(ask).toHaveTextContent('Block Bob Baker?');
    expect(server.calls('POST', `/api/users/${BOB}/block`)).toHaveLength(0);
    await u.click(within(ask).getByTestId('confirm-button'));
    const blocked = await screen.findByTestId('chat-blocked');
    expect(blocked).toHaveTextContent('You blocked Bob Baker');
    expect(server.calls('POST', `/api/users/${BOB}/block`)).toHaveLength(1);
    expect(screen.queryByTestId('composer')).toBeNull();
    expect(screen.getByTestId('chat-subtitle')).toHaveTextContent('Blocked');
    expect(screen.queryByTestId('chat-tab-requests')).toBeNull();

    await u.click(within(blocked).getByTestId('unblock-button'));
    expect(await screen.findByTestId('chat-request-banner')).toBeVisible();
    expect(server.calls('DELETE', `/api/users/${BOB}/block`)).toHaveLength(1);
    expect(screen.getByTestId('chat-tab-requests-count')).toHaveTextContent('1');
  });

  it('my request shows how many messages I have left, and the limit error when I go past it', async () => {
    const mine = [message(R, 1, ME, 'hi Bob'), message(R, 2, ME, 'are you there?')];
    server.state.chats[0] = direct(R, BOB, {
      request: { state: 'pending', requestedBy: ME },
      lastSeq: 2,
      lastMessage: preview(mine[1]!),
      lastReadSeq: 2,
    });
    server.state.pages[R] = mine;
    const u = userEvent.setup();
    renderAt(`/chats/${R}`);
    const waiting = await screen.findByTestId('request-waiting');
    await waitFor(() =>
      expect(waiting).toHaveTextContent('Waiting for Bob Baker to accept (2 of 3 messages)'),
    );

    await u.type(screen.getByTestId('composer-input'), 'last one{Enter}');
    await waitFor(() => expect(screen.getByTestId('request-waiting')).toHaveAttribute('data-sent', '3'));
    expect(screen.getByTestId('request-waiting')).toHaveTextContent('you can write more once they accept');

    server.state.replies[`POST /api/chats/${R}/messages`] = [
      errorReply(
        403,
        'CHAT_REQUEST_LIMIT',
        'Wait for an answer: a chat request allows 3 messages until it is accepted.',
      ),
    ];
    await u.type(screen.getByTestId('composer-input'), 'one more{Enter}');
    const error = await screen.findByTestId('send-error');
    expect(error).toHaveAttribute('data-code', 'CHAT_REQUEST_LIMIT');
    expect(error).toHaveTextContent('a chat request allows 3 messages until it is accepted');

    // Bob accepts (live): the refused message goes again by itself, with its clientMsgId.
    const socket = FakeSocket.latest();
    socket.open();
    await waitFor(() => expect(socket.sent.length).toBeGreaterThan(0));
    socket.ack(socket.last('auth').id, { userId: ME, sessionId: id('session'), position: 'p1' });
    // Online (after a resume, when the client had a position already).
    let resumed = false;
    await waitFor(() => {
      const resume = socket.sent.find((f) => f.type === 'sync:resume');
      if (resume && !resumed) {
        resumed = true;
        socket.ack(resume.id, { resumed: true, replayed: 0, position: 'p1' });
      }
      expect(useConnectionStore.getState().state).toBe('online');
    });
    const {
      preferences: _p,
      myRole: _r,
      peer: _peer,
      lastMessage: _m,
      lastReadSeq: _l,
      unreadCount: _u,
      ...info
    } = server.state.chats[0]!;
    socket.push({
      type: 'chat:updated',
      position: 'p2',
      data: { chat: { ...info, request: null, lastSeq: 3, version: info.version + 1 } },
    });
    await waitFor(() => expect(socket.last('message:send')?.data).toMatchObject({ body: 'one more' }));
  });

  it('a declined request replaces the composer; asking again too soon says so', async () => {
    server.state.chats[0] = direct(R, BOB, { request: { state: 'rejected', requestedBy: ME }, lastSeq: 1 });
    server.state.replies['POST /api/chats/direct'] = [
      errorReply(403, 'CHAT_REQUEST_DECLINED', 'This person declined your chat request. Try again later.'),
    ];
    const u = userEvent.setup();
    renderAt(`/chats/${R}`);
    expect(await screen.findByTestId('request-declined')).toHaveTextContent(
      'Bob Baker declined your chat request.',
    );
    expect(screen.queryByTestId('composer')).toBeNull();
    await u.click(screen.getByTestId('request-again-button'));
    expect(await screen.findByTestId('toast')).toHaveTextContent('declined your chat request');
  });
});

describe('blocked sends', () => {
  it('a send refused with BLOCKED says "You can\'t message" the person', async () => {
    server.state.replies[`POST /api/chats/${D}/messages`] = [
      errorReply(403, 'BLOCKED', 'You cannot message or invite this person.'),
    ];
    const u = userEvent.setup();
    renderAt(`/chats/${D}`);
    await shown('lunch?');
    await u.type(screen.getByTestId('composer-input'), 'hello?{Enter}');
    const error = await screen.findByTestId('send-error');
    expect(error).toHaveAttribute('data-code', 'BLOCKED');
    expect(error).toHaveTextContent("You can't message Carol Chen.");
    expect(screen.getByTestId('chat-cant-message')).toHaveTextContent('You can’t message Carol Chen.');
  });
});

describe('the chat menu', () => {
  it('mutes a chat: muted icon, grey badge, and "Muted" in the header; unmute undoes it', async () => {
    const u = userEvent.setup();
    renderAt(`/chats/${G}`);
    await screen.findByTestId('chat-view');
    await u.click(screen.getByTestId('chat-menu-button'));
    const before = Date.now();
    await u.click(screen.getByTestId('chat-menu-mute-8h'));
    await screen.findByTestId('chat-muted');
    const body = server.calls('PUT', `/api/chats/${G}/preferences`)[0]!.body as { mutedUntil: string };
    const until = Date.parse(body.mutedUntil);
    expect(until - before).toBeGreaterThanOrEqual(8 * 3_600_000 - 1_000);
    expect(until - before).toBeLessThanOrEqual(8 * 3_600_000 + 5_000);

    const item = screen.getAllByTestId('chat-list-item').find((el) => el.dataset.chatId === G)!;
    expect(item).toHaveAttribute('data-muted', 'true');
    expect(within(item).getByTestId('muted-icon')).toBeVisible();

    await u.click(screen.getByTestId('chat-menu-button'));
    expect(screen.getByTestId('chat-menu-muted-until')).toHaveTextContent('Muted until');
    await u.click(screen.getByTestId('chat-menu-unmute'));
    await waitFor(() => expect(screen.queryByTestId('chat-muted')).toBeNull());
    expect(server.calls('PUT', `/api/chats/${G}/preferences`)[1]!.body).toEqual({ mutedUntil: null });
  });

  it('sets which messages notify, and archives into the Archived list', async () => {
    const u = userEvent.setup();
    renderAt(`/chats/${G}`);
    await screen.findByTestId('chat-view');
    await u.click(screen.getByTestId('chat-menu-button'));
    expect(screen.getByTestId('chat-menu-notify-all')).toHaveAttribute('aria-checked', 'true');
    await u.click(screen.getByTestId('chat-menu-notify-mentions'));
    await waitFor(() =>
      expect(server.calls('PUT', `/api/chats/${G}/preferences`).map((r) => r.body)).toEqual([
        { notify: 'mentions' },
      ]),
    );
    await u.click(screen.getByTestId('chat-menu-button'));
    expect(screen.getByTestId('chat-menu-notify-mentions')).toHaveAttribute('aria-checked', 'true');

    await u.click(screen.getByTestId('chat-menu-archive'));
    await waitFor(() => expect(listIds()).toEqual([D]));
    await u.click(screen.getByTestId('chat-tab-archived'));
    expect(listIds()).toEqual([G, A]);
    await u.click(screen.getByTestId('chat-menu-button'));
    expect(screen.getByTestId('chat-menu-archive')).toHaveTextContent('Unarchive');
  });

  it('disappearing messages: only admins of a group may change them; the header shows the time', async () => {
    const u = userEvent.setup();
    renderAt(`/chats/${G}`);
    await screen.findByTestId('chat-view');
    await u.click(screen.getByTestId('chat-menu-button'));
    expect(screen.queryByTestId('chat-menu-ttl-3600')).toBeNull();
    await u.click(screen.getByTestId('chat-menu-button'));

    // In a direct chat both people may.
    await u.click(within(screen.getByTestId('chat-list')).getByText('Carol Chen'));
    await shown('lunch?');
    await u.click(screen.getByTestId('chat-menu-button'));
    expect(screen.getByTestId('chat-menu-ttl-off')).toHaveAttribute('aria-checked', 'true');
    await u.click(screen.getByTestId('chat-menu-ttl-86400'));
    expect(await screen.findByTestId('chat-ttl')).toHaveTextContent('1 day');
    expect(server.calls('PUT', `/api/chats/${D}/settings`)[0]!.body).toEqual({ messageTtlSeconds: 86_400 });
  });
});

describe('how messages look', () => {
  it('a mention of me is highlighted and links to my profile; urgent and important ones stand out', async () => {
    renderAt(`/chats/${G}`);
    const el = (m: Message) =>
      screen.getAllByTestId('message').find((x) => x.dataset.messageId === m.id) as HTMLElement;
    await waitFor(() => expect(el(g1)).toBeDefined());
    await waitFor(() =>
      expect(within(el(g1)).getByTestId('mention')).toHaveAttribute('href', `/users/${ME}`),
    );
    expect(el(g1)).toHaveAttribute('data-mentioned', 'true');
    expect(el(g1)).toHaveClass('message--mentioned');
    expect(el(g2)).toHaveAttribute('data-priority', 'urgent');
    expect(within(el(g2)).getByTestId('priority-label')).toHaveTextContent('Urgent');
    expect(el(g3)).toHaveClass('message--high');
    expect(within(el(g3)).getByTestId('priority-label')).toHaveTextContent('Important');
    // Sender names lead to profiles.
    expect(within(el(g1)).getByTestId('message-sender')).toHaveAttribute('href', `/users/${BOB}`);
  });
});
