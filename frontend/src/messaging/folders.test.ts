/**
 * Chat requests, archive and mute preferences, and contacts as live events change them:
 * which list a chat belongs in, and that replayed events change nothing.
 */
import type { Chat, Contact, ContactRequest, ServerEvent } from '@parley/contracts';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { relationTo, useContactsStore } from '../people/contacts-store';
import { BOB, CAROL, ME, at, chat, id, infoOf, message, preview, user } from '../test/chat-fixtures';
import { applyEvent } from './apply-event';
import { chatFolder, isMuted, useChatsStore } from './chats-store';
import { usePresenceStore } from './presence-store';

const R = id('request from bob');
const G = id('archived group');

function reset(chats: Chat[] = []) {
  useChatsStore.getState().setAll(chats);
  useContactsStore.getState().setAll({ contacts: [], requests: [], blocked: [] });
  usePresenceStore.getState().clear();
}

const chatOf = (chatId: string) => useChatsStore.getState().chats[chatId]!;
const folderOf = (chatId: string) => chatFolder(chatOf(chatId), ME);

/** Apply each event twice: delivery is at least once. */
function apply(events: ServerEvent[], effects = {}) {
  for (const e of events) {
    applyEvent(e, ME, effects);
    applyEvent(e, ME, effects);
  }
}

const requestChat = chat(R, {
  kind: 'direct',
  name: 'Bob Baker',
  memberCount: 2,
  myRole: 'member',
  peer: user(BOB),
  request: { state: 'pending', requestedBy: BOB },
});

describe('chatFolder', () => {
  it('puts requests others sent me in Requests, mine in the main list, rejected ones nowhere', () => {
    expect(chatFolder(requestChat, ME)).toBe('requests');
    expect(chatFolder({ ...requestChat, request: { state: 'pending', requestedBy: ME } }, ME)).toBe('main');
    expect(chatFolder({ ...requestChat, request: { state: 'rejected', requestedBy: BOB } }, ME)).toBe(
      'hidden',
    );
    expect(chatFolder({ ...requestChat, request: { state: 'rejected', requestedBy: ME } }, ME)).toBe('main');
    expect(chatFolder(chat(G), ME)).toBe('main');
    const archived = chat(G, { preferences: { archived: true, mutedUntil: null, notify: 'all' } });
    expect(chatFolder(archived, ME)).toBe('archived');
  });

  it('isMuted: forever, until a later time, not after it', () => {
    const now = Date.parse(at(30));
    const p = (mutedUntil: Chat['preferences']['mutedUntil']) => ({
      archived: false,
      mutedUntil,
      notify: 'all' as const,
    });
    expect(isMuted(p(null), now)).toBe(false);
    expect(isMuted(p('forever'), now)).toBe(true);
    expect(isMuted(p(at(31)), now)).toBe(true);
    expect(isMuted(p(at(30)), now)).toBe(false);
    expect(isMuted(p(at(29)), now)).toBe(false);
  });
});

describe('chat requests, live', () => {
  beforeEach(() => reset());

  it('a request arrives in Requests, its messages count there, and acceptance moves it to the main list', () => {
    const m1 = message(R, 1, BOB, 'hi, we met at the conference');
    apply([
      { type: 'chat:created', data: { chat: requestChat } },
      { type: 'message:new', data: { message: m1 } },
    ]);
    expect(folderOf(R)).toBe('requests');
    expect(chatOf(R).unreadCount).toBe(1);
    expect(chatOf(R).lastMessage).toEqual(preview(m1));

    const info = infoOf(requestChat);
    apply([{ type: 'chat:updated', data: { chat: { ...info, lastSeq: 1, request: null } } }]);
    expect(folderOf(R)).toBe('main');
    expect(chatOf(R).request).toBeNull();
    expect(chatOf(R).unreadCount).toBe(1);
  });

  it('my own request turns "rejected" when declined and plain when accepted', () => {
    const mine = { ...requestChat, request: { state: 'pending' as const, requestedBy: ME } };
    reset([mine]);
    const info = infoOf(mine);
    apply([
      { type: 'chat:updated', data: { chat: { ...info, request: { state: 'rejected', requestedBy: ME } } } },
    ]);
    expect(chatOf(R).request).toEqual({ state: 'rejected', requestedBy: ME });
    expect(folderOf(R)).toBe('main');
    apply([{ type: 'chat:updated', data: { chat: { ...info, request: null } } }]);
    expect(chatOf(R).request).toBeNull();
  });

  it('rejecting removes the chat (chat:deleted); asking again brings it back through a fetch', () => {
    reset([requestChat]);
    apply([{ type: 'chat:deleted', data: { chatId: R } }]);
    expect(useChatsStore.getState().chats[R]).toBeUndefined();

    const refreshChat = vi.fn();
    const info = infoOf(requestChat);
    applyEvent({ type: 'chat:updated', data: { chat: info } }, ME, { refreshChat });
    expect(refreshChat).toHaveBeenCalledWith(R);
    // An update of some other chat I do not hold (one I deleted for myself) is not fetched.
    refreshChat.mockClear();
    applyEvent({ type: 'chat:updated', data: { chat: { ...info, id: G, request: null } } }, ME, {
      refreshChat,
    });
    expect(refreshChat).not.toHaveBeenCalled();
  });
});

describe('archive and mute, live', () => {
  beforeEach(() => reset([chat(G, { lastSeq: 1, lastActivityAt: at(1), lastReadSeq: 1 })]));

  it('chat:preferences moves a chat to Archived; new messages leave it there; unarchiving brings it back', () => {
    const archived = { archived: true, mutedUntil: 'forever' as const, notify: 'mentions' as const };
    apply([{ type: 'chat:preferences', data: { chatId: G, preferences: archived } }]);
    expect(folderOf(G)).toBe('archived');
    expect(isMuted(chatOf(G).preferences)).toBe(true);

    apply([{ type: 'message:new', data: { message: message(G, 2, CAROL, 'still archived?') } }]);
    expect(folderOf(G)).toBe('archived');
    expect(chatOf(G).unreadCount).toBe(1);
    expect(chatOf(G).lastSeq).toBe(2);

    apply([
      {
        type: 'chat:preferences',
        data: { chatId: G, preferences: { archived: false, mutedUntil: null, notify: 'all' } },
      },
    ]);
    expect(folderOf(G)).toBe('main');
    expect(chatOf(G).preferences).toEqual({ archived: false, mutedUntil: null, notify: 'all' });
  });

  it('chat:updated keeps my own preferences and takes the disappearing-messages setting', () => {
    const prefs = { archived: true, mutedUntil: null, notify: 'none' as const };
    apply([{ type: 'chat:preferences', data: { chatId: G, preferences: prefs } }]);
    const info = infoOf(chatOf(G));
    apply([{ type: 'chat:updated', data: { chat: { ...info, messageTtlSeconds: 86_400 } } }]);
    expect(chatOf(G).messageTtlSeconds).toBe(86_400);
    expect(chatOf(G).preferences).toEqual(prefs);
  });
});

describe('contacts, live', () => {
  beforeEach(() => reset());

  const incoming: ContactRequest = {
    id: id('req bob'),
    direction: 'incoming',
    user: user(BOB),
    createdAt: at(1),
  };
  const outgoing: ContactRequest = {
    id: id('req carol'),
    direction: 'outgoing',
    user: user(CAROL),
    createdAt: at(2),
  };
  const bobContact: Contact = { user: user(BOB), online: true, lastSeenAt: null, since: at(3) };

  it('requests come and go; an accepted one becomes a contact with presence', () => {
    apply([
      { type: 'contact:request', data: { request: incoming } },
      { type: 'contact:request', data: { request: outgoing } },
    ]);
    let s = useContactsStore.getState();
    expect(Object.keys(s.requests).sort()).toEqual([incoming.id, outgoing.id].sort());
    expect(relationTo(s, BOB)).toEqual({ kind: 'incoming', requestId: incoming.id });
    expect(relationTo(s, CAROL)).toEqual({ kind: 'outgoing', requestId: outgoing.id });

    apply([
      { type: 'contact:request_removed', data: { requestId: incoming.id } },
      { type: 'contact:added', data: { contact: bobContact } },
      // A late replay of the old request changes nothing between contacts.
      { type: 'contact:request', data: { request: incoming } },
    ]);
    s = useContactsStore.getState();
    expect(s.contacts[BOB]).toEqual(bobContact);
    expect(Object.keys(s.requests)).toEqual([outgoing.id]);
    expect(relationTo(s, BOB)).toEqual({ kind: 'contact' });
    expect(usePresenceStore.getState().byUser[BOB]).toEqual({ online: true, lastSeenAt: null });

    apply([
      { type: 'contact:removed', data: { userId: BOB } },
      { type: 'contact:request_removed', data: { requestId: outgoing.id } },
    ]);
    s = useContactsStore.getState();
    expect(s.contacts).toEqual({});
    expect(s.requests).toEqual({});
    expect(relationTo(s, BOB)).toEqual({ kind: 'none' });
  });

  it('becoming contacts also clears a request that was never removed', () => {
    apply([
      { type: 'contact:request', data: { request: outgoing } },
      { type: 'contact:added', data: { contact: { ...bobContact, user: user(CAROL) } } },
    ]);
    expect(useContactsStore.getState().requests).toEqual({});
    expect(relationTo(useContactsStore.getState(), CAROL)).toEqual({ kind: 'contact' });
  });
});
