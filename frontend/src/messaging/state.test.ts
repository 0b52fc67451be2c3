/**
 * The state test, in Zulip's manner: a client that loaded its state at some moment and then
 * received the live events since must hold the same state as a client that loads it fresh
 * from REST now. Replayed (duplicate) events must not change it.
 */
import type { Chat, ChatMember, Message, ServerEvent } from '@parley/contracts';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import {
  BOB,
  CAROL,
  DAVE,
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
import { testUser } from '../test/stub-network';
import { applyEvent } from './apply-event';
import { useChatsStore } from './chats-store';
import { useMembersStore } from './members-store';
import { type SeqGap, updateChatMessages, useMessagesStore, withPage } from './messages-store';
import { usePresenceStore } from './presence-store';
import { useTypingStore } from './typing-store';

interface Snapshot {
  chats: Chat[];
  pages: Record<string, Message[]>;
  members: Record<string, ChatMember[]>;
}

function reset() {
  useChatsStore.getState().clear();
  useMessagesStore.getState().clear();
  useMembersStore.getState().clear();
  usePresenceStore.getState().clear();
  useTypingStore.getState().clear();
}

/** What the client does with REST answers: the chat list, each open chat's newest page, its members. */
function hydrate(s: Snapshot) {
  reset();
  useChatsStore.getState().setAll(s.chats);
  for (const [chatId, messages] of Object.entries(s.pages)) {
    updateChatMessages(chatId, (cm) =>
      withPage(cm, { messages, hasMoreBefore: false, hasMoreAfter: false }, 'replace'),
    );
  }
  for (const [chatId, members] of Object.entries(s.members)) {
    useMembersStore.getState().setMembers(chatId, members);
    usePresenceStore.getState().fromMembers(members);
  }
}

/**
 * The state to compare. A chat's `version` is left out on purpose: it is the client's
 * "last version seen from REST", the cursor for GET /changes after a re-sync, and message
 * events do not carry it (they carry the message's version, compared in `messages`).
 */
function state(presenceOf: string[]) {
  const chats = Object.fromEntries(
    Object.entries(useChatsStore.getState().chats).map(([k, { version: _version, ...rest }]) => [k, rest]),
  );
  const presence = usePresenceStore.getState().byUser;
  return {
    chats,
    messages: useMessagesStore.getState().byChat,
    members: useMembersStore.getState().byChat,
    presence: Object.fromEntries(presenceOf.map((u) => [u, presence[u]])),
  };
}

const D = id('direct with bob');
const G = id('team');
const X = id('old group');
const N = id('new group');
const DELETED_AT = '2026-03-01T10:30:00.000Z';

// --- the stale state: loaded at 10:03 ---
const d1 = message(D, 1, BOB, 'hi');
const d2 = message(D, 2, ME, 'hello');
const g1 = systemMessage(G, 1, { action: 'group_created', actorId: ME, userIds: [], value: 'Team' });
const g2 = message(G, 2, BOB, 'first');
const g3 = message(G, 3, CAROL, 'second');
const x1 = message(X, 1, CAROL, 'old news');

const directChat = chat(D, {
  kind: 'direct',
  name: names[BOB]!,
  memberCount: 2,
  myRole: 'member',
  peer: user(BOB),
  lastSeq: 2,
  version: 0,
  lastActivityAt: at(2),
  lastMessage: preview(d2),
  lastReadSeq: 2,
});
const teamChat = chat(G, { lastSeq: 3, lastActivityAt: at(3), lastMessage: preview(g3), lastReadSeq: 3 });
const oldChat = chat(X, {
  name: 'Old',
  lastSeq: 1,
  lastActivityAt: at(1),
  lastMessage: preview(x1),
  lastReadSeq: 1,
});

const stale: Snapshot = {
  chats: [directChat, teamChat, oldChat],
  pages: { [D]: [d1, d2], [G]: [g1, g2, g3], [X]: [x1] },
  members: {
    [D]: [member(ME, 'member', 2, 2, true), member(BOB, 'member', 1, 2, true)],
    [G]: [member(ME, 'owner', 3, 3, true), member(BOB, 'member', 2, 3, true), member(CAROL, 'member', 3)],
  },
};

// --- what happened next, as events ---
const d3 = message(D, 3, BOB, 'how are you?');
const d4 = message(D, 4, ME, 'fine');
const d2edited = { ...d2, body: 'hello!', editedAt: at(5), version: 2 };
const g4 = message(G, 4, BOB, 'oops');
const g5 = message(G, 5, CAROL, 'what did you say?', {
  replyTo: { id: g4.id, seq: 4, senderId: BOB, senderName: names[BOB]!, bodyPreview: 'oops', deleted: false },
});
const g6 = systemMessage(G, 6, { action: 'renamed', actorId: ME, userIds: [], value: 'Team 2' });
const g7 = systemMessage(G, 7, { action: 'member_added', actorId: ME, userIds: [DAVE], value: null });
const g8 = systemMessage(G, 8, { action: 'member_removed', actorId: ME, userIds: [CAROL], value: null });
const daveJoined = member(DAVE, 'member', 6, 6, true);
const newChat = chat(N, {
  name: 'Launch',
  myRole: 'member',
  memberCount: 2,
  createdAt: at(9),
  lastActivityAt: at(9),
});

const events: ServerEvent[] = [
  { type: 'message:new', data: { message: d3 } },
  {
    type: 'message:delivered',
    data: {
      chatId: D,
      receipts: [
        { userId: ME, upToSeq: 3 },
        { userId: BOB, upToSeq: 3 },
      ],
    },
  },
  { type: 'message:new', data: { message: d4 } }, // from my other device
  { type: 'message:read', data: { chatId: D, userId: ME, upToSeq: 4 } },
  { type: 'message:read', data: { chatId: D, userId: BOB, upToSeq: 4 } },
  { type: 'message:edited', data: { message: d2edited } },
  { type: 'reaction:added', data: { chatId: D, messageId: d3.id, userId: ME, emoji: '👍', version: 2 } },
  { type: 'reaction:added', data: { chatId: D, messageId: d3.id, userId: BOB, emoji: '👍', version: 3 } },
  { type: 'reaction:removed', data: { chatId: D, messageId: d3.id, userId: ME, emoji: '👍', version: 4 } },
  {
    type: 'message:deleted',
    data: { chatId: D, messageId: d1.id, seq: 1, scope: 'me', version: 1, deletedAt: null },
  },
  { type: 'message:new', data: { message: g4 } },
  { type: 'message:read', data: { chatId: G, userId: BOB, upToSeq: 4 } },
  { type: 'message:new', data: { message: g5 } },
  {
    type: 'message:deleted',
    data: { chatId: G, messageId: g4.id, seq: 4, scope: 'everyone', version: 2, deletedAt: DELETED_AT },
  },
  // One coalesced receipt for the group: Bob's devices have Carol's message, Carol's too.
  {
    type: 'message:delivered',
    data: {
      chatId: G,
      receipts: [
        { userId: BOB, upToSeq: 5 },
        { userId: CAROL, upToSeq: 5 },
      ],
    },
  },
  { type: 'message:new', data: { message: g6 } },
  {
    type: 'chat:updated',
    data: {
      chat: {
        id: G,
        kind: 'group',
        name: 'Team 2',
        description: '',
        avatarUrl: null,
        memberCount: 3,
        messageTtlSeconds: null,
        request: null,
        lastSeq: 6,
        version: 1,
        createdAt: at(0),
        lastActivityAt: at(6),
      },
    },
  },
  { type: 'chat:member_added', data: { chatId: G, members: [daveJoined], memberCount: 4 } },
  { type: 'message:new', data: { message: g7 } },
  { type: 'chat:member_updated', data: { chatId: G, member: member(BOB, 'admin', 4, 4, true) } },
  { type: 'chat:member_removed', data: { chatId: G, userId: CAROL, memberCount: 3 } },
  { type: 'message:new', data: { message: g8 } },
  { type: 'message:read', data: { chatId: G, userId: ME, upToSeq: 8 } }, // read on my other device
  { type: 'chat:deleted', data: { chatId: X } },
  { type: 'chat:created', data: { chat: newChat } },
  { type: 'presence:offline', data: { userId: BOB, lastSeenAt: at(20) } },
  { type: 'typing:start', data: { chatId: G, userId: DAVE, expiresInMs: 6000 } },
];

// --- the same moment, loaded fresh from REST ---
const fresh: Snapshot = {
  chats: [
    { ...newChat, version: 0 },
    {
      ...teamChat,
      name: 'Team 2',
      lastSeq: 8,
      version: 2,
      lastActivityAt: at(8),
      lastMessage: preview(g8, 'Ada Lovelace removed Carol Chen'),
      lastReadSeq: 8,
      unreadCount: 0,
    },
    {
      ...directChat,
      lastSeq: 4,
      version: 4,
      lastActivityAt: at(4),
      lastMessage: preview(d4),
      lastReadSeq: 4,
      unreadCount: 0,
    },
  ],
  pages: {
    [D]: [d2edited, { ...d3, reactions: [{ emoji: '👍', userIds: [BOB] }], version: 4 }, d4],
    [G]: [
      g1,
      g2,
      g3,
      { ...g4, body: '', deletedAt: DELETED_AT, version: 2 },
      { ...g5, replyTo: { ...g5.replyTo!, bodyPreview: '', deleted: true } },
      g6,
      g7,
      g8,
    ],
  },
  members: {
    [D]: [member(ME, 'member', 4, 4, true), { ...member(BOB, 'member', 4, 4), lastSeenAt: at(20) }],
    [G]: [member(ME, 'owner', 8, 8, true), member(BOB, 'admin', 4, 5, true), daveJoined],
  },
};
// Bob went offline after the group's member list was read in the fresh load too.
fresh.members[G]![1] = { ...fresh.members[G]![1]!, online: false, lastSeenAt: at(20) };

const effects = {
  now: () => DELETED_AT,
  refreshChat: (chatId: string) => refreshed.push(chatId),
  fetchGap: (chatId: string, gap: SeqGap) => gaps.push({ chatId, ...gap }),
};
let refreshed: string[] = [];
let gaps: ({ chatId: string } & SeqGap)[] = [];

beforeEach(() => {
  refreshed = [];
  gaps = [];
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 't', sessionId: null });
});

describe('client state', () => {
  it('live events bring a stale state to what a fresh load returns', () => {
    hydrate(fresh);
    const expected = state([ME, BOB, DAVE]);

    hydrate(stale);
    for (const e of events) applyEvent(e, ME, effects);

    expect(state([ME, BOB, DAVE])).toEqual(expected);
    // Every event could be applied from what the client held: nothing had to be re-fetched.
    expect(refreshed).toEqual([]);
    expect(gaps).toEqual([]);
    // Ephemeral state is there too, outside the comparison.
    expect(Object.keys(useTypingStore.getState().byChat[G] ?? {})).toEqual([DAVE]);
  });

  it('replayed events (at-least-once delivery) change nothing', () => {
    hydrate(stale);
    for (const e of events) applyEvent(e, ME, effects);
    const once = state([ME, BOB, DAVE]);
    for (const e of events) applyEvent(e, ME, effects);
    expect(state([ME, BOB, DAVE])).toEqual(once);
  });

  it('events that arrive after a fresher REST answer (held during a re-sync) change nothing', () => {
    hydrate(fresh);
    const expected = state([ME, BOB, DAVE]);
    for (const e of events) {
      // Removing, deleting and creating chats is not a replay question; the rest must be no-ops.
      if (e.type === 'chat:deleted' || e.type === 'chat:member_removed' || e.type === 'chat:member_added')
        continue;
      applyEvent(e, ME, effects);
    }
    expect(state([ME, BOB, DAVE])).toEqual(expected);
  });

  it('applies every receipt of a coalesced message:delivered, each only forward', () => {
    hydrate(stale);
    const delivered = () =>
      Object.fromEntries(
        Object.values(useMembersStore.getState().byChat[G] ?? {}).map((m) => [m.user.id, m.lastDeliveredSeq]),
      );
    expect(delivered()).toEqual({ [ME]: 3, [BOB]: 3, [CAROL]: 3 });
    applyEvent(
      {
        type: 'message:delivered',
        data: {
          chatId: G,
          receipts: [
            { userId: CAROL, upToSeq: 2 }, // older than what the member list says: no step back
            { userId: DAVE, upToSeq: 7 }, // not a member the client knows: nothing to move
            { userId: BOB, upToSeq: 7 },
          ],
        },
      },
      ME,
      effects,
    );
    expect(delivered()).toEqual({ [ME]: 3, [BOB]: 7, [CAROL]: 3 });
    expect(useMembersStore.getState().byChat[G]?.[BOB]?.lastReadSeq).toBe(2); // delivered is not read
  });

  it('keeps unread counts right along the way', () => {
    hydrate(stale);
    const unread = (chatId: string) => useChatsStore.getState().chats[chatId]?.unreadCount;
    const upTo = (n: number) => events.slice(0, n).forEach((e) => applyEvent(e, ME, effects));
    upTo(1);
    expect(unread(D)).toBe(1); // Bob's new message
    hydrate(stale);
    upTo(13);
    expect(unread(G)).toBe(2); // Bob's and Carol's
    applyEvent(events[13]!, ME, effects); // Bob's message deleted for everyone
    expect(unread(G)).toBe(1);
  });
});

describe('seq gaps', () => {
  const seqsOf = (chatId: string) => {
    const cm = useMessagesStore.getState().byChat[chatId];
    return cm ? cm.order.map((mid) => cm.byId[mid]!.seq) : [];
  };

  it('a live message that skips seqs asks for the gap after the last one held, and for the chat', () => {
    hydrate(stale);
    applyEvent({ type: 'message:new', data: { message: g5 } }, ME, effects); // g4 is missing
    expect(gaps).toEqual([{ chatId: G, afterSeq: 3, beforeSeq: 5 }]);
    // The unread count cannot be counted past a gap: the chat comes from REST again.
    expect(refreshed).toEqual([G]);
    expect(seqsOf(G)).toEqual([1, 2, 3, 5]);

    // The same message again (at-least-once delivery) is no new gap.
    applyEvent({ type: 'message:new', data: { message: g5 } }, ME, effects);
    expect(gaps).toHaveLength(1);
  });

  it('a late message that fills the gap by itself, and then the fetched gap, leave one copy of each in seq order', () => {
    hydrate(stale);
    applyEvent({ type: 'message:new', data: { message: g5 } }, ME, effects);
    applyEvent({ type: 'message:new', data: { message: g4 } }, ME, effects); // late, out of order
    expect(gaps).toHaveLength(1);
    expect(refreshed).toEqual([G]);
    expect(seqsOf(G)).toEqual([1, 2, 3, 4, 5]);

    // The fetch asked for before g4 came answers with it too: merged by id.
    updateChatMessages(G, (cm) =>
      withPage(cm, { messages: [g4, g5], hasMoreBefore: true, hasMoreAfter: false }, 'merge'),
    );
    expect(seqsOf(G)).toEqual([1, 2, 3, 4, 5]);
    expect(useMessagesStore.getState().byChat[G]?.hasMoreAfter).toBe(false);
  });

  it('asks for no gap for the next seq in line, or when the window stops short of the newest', () => {
    hydrate(stale);
    applyEvent({ type: 'message:new', data: { message: g4 } }, ME, effects);
    expect(gaps).toEqual([]);

    // Opened around a deep link: the newest messages are fetched when scrolled to, not here.
    updateChatMessages(D, (cm) =>
      withPage(cm, { messages: [d1, d2], hasMoreBefore: false, hasMoreAfter: true }, 'replace'),
    );
    applyEvent({ type: 'message:new', data: { message: message(D, 9, BOB, 'much later') } }, ME, effects);
    expect(gaps).toEqual([]);
    expect(seqsOf(D)).toEqual([1, 2]);
  });
});
