/**
 * A small in-memory Parley behind the stubbed network, for screen tests of chats, requests,
 * contacts and profiles. It answers like the real API for the state a test sets up and
 * records every request; `replies` lets a test answer one route its own way.
 */
import type {
  Chat,
  ChatMember,
  ChatPreferences,
  Contact,
  ContactRequest,
  Message,
  PublicUser,
} from '@parley/contracts';
import { findSearchMatches } from '@parley/contracts';
import { ME, message } from './chat-fixtures';
import { type StubReply, type StubRequest, errorReply, stubNetwork, testUser } from './stub-network';

export interface FakeState {
  chats: Chat[];
  pages: Record<string, Message[]>;
  members: Record<string, ChatMember[]>;
  users: PublicUser[];
  contacts: Contact[];
  requests: ContactRequest[];
  blocked: PublicUser[];
  /** "METHOD /path" → replies used once each, before the default behaviour. */
  replies: Record<string, StubReply[]>;
}

export function fakeServer(initial: Partial<FakeState> = {}) {
  const state: FakeState = {
    chats: [],
    pages: {},
    members: {},
    users: [],
    contacts: [],
    requests: [],
    blocked: [],
    replies: {},
    ...initial,
  };
  const ok = (body?: unknown): StubReply => (body === undefined ? { status: 204 } : { status: 200, body });
  const notFound = () => errorReply(404, 'NOT_FOUND', 'Not found.');
  const findChat = (chatId: string) => state.chats.find((c) => c.id === chatId);
  const replaceChat = (chat: Chat) => {
    state.chats = state.chats.map((c) => (c.id === chat.id ? chat : c));
  };

  function handle(req: StubRequest): StubReply {
    const url = new URL(req.url, 'http://parley.test');
    const path = url.pathname;
    const key = `${req.method} ${path}`;
    const canned = state.replies[key]?.shift();
    if (canned) return canned;

    if (key === 'GET /api/chats') {
      const archived = url.searchParams.get('archived') === 'true';
      const chats = state.chats.filter(
        (c) => c.preferences.archived === archived && !(c.request && c.request.requestedBy !== ME),
      );
      return ok({ chats, nextCursor: null });
    }
    if (key === 'GET /api/chats/requests') {
      return ok({
        chats: state.chats.filter((c) => c.request?.state === 'pending' && c.request.requestedBy !== ME),
      });
    }
    if (key === 'POST /api/chats/direct') {
      const { userId } = req.body as { userId: string };
      const chat = state.chats.find((c) => c.kind === 'direct' && c.peer?.id === userId);
      return chat ? ok(chat) : notFound();
    }
    if (key === 'GET /api/contacts') return ok({ contacts: state.contacts });
    if (key === 'GET /api/contacts/requests') {
      return ok({
        incoming: state.requests.filter((r) => r.direction === 'incoming'),
        outgoing: state.requests.filter((r) => r.direction === 'outgoing'),
      });
    }
    if (key === 'POST /api/contacts/requests') {
      const { userId } = req.body as { userId: string };
      const user = state.users.find((u) => u.id === userId);
      if (!user) return notFound();
      const request: ContactRequest = {
        id: `0000000${state.requests.length}-0000-4000-8000-00000000000${state.requests.length}`,
        direction: 'outgoing',
        user,
        createdAt: new Date().toISOString(),
      };
      state.requests.push(request);
      return { status: 201, body: { request, contact: null } };
    }
    if (key === 'GET /api/users/blocked') return ok({ users: state.blocked });
    if (key === 'GET /api/users/search') {
      const q = url.searchParams.get('q') ?? '';
      return ok({ users: state.users.filter((u) => u.username.startsWith(q)), nextCursor: null });
    }

    if (key === 'GET /api/search') {
      // Plain words only (the real query language is the server's); every word must occur,
      // in the text, or with type=files in an attachment's name. Nothing found: words one
      // letter off (the server's similar words), marked approximate.
      const q = url.searchParams.get('q') ?? '';
      const chatId = url.searchParams.get('chatId');
      const files = url.searchParams.get('type') === 'files';
      const words = q
        .toLowerCase()
        .split(/\s+/)
        .filter((w) => w && !w.includes(':'));
      const visible = Object.values(state.pages)
        .flat()
        .filter((msg) => (!chatId || msg.chatId === chatId) && msg.kind === 'text' && !msg.deletedAt);
      const texts = (msg: Message) => (files ? msg.attachments.map((a) => a.name) : [msg.body]);
      const find = (has: (text: string, word: string) => boolean) =>
        visible.flatMap((msg) =>
          texts(msg)
            .filter((t) => words.length > 0 && words.every((w) => has(t.toLowerCase(), w)))
            .map((text, i) => {
              const c = findChat(msg.chatId);
              const file = files ? msg.attachments.find((a) => a.name === text) : undefined;
              return {
                messageId: msg.id,
                chat: { id: msg.chatId, kind: c?.kind ?? 'group', title: c?.name ?? '' },
                sender: msg.sender,
                seq: msg.seq,
                createdAt: msg.createdAt,
                editedAt: msg.editedAt,
                snippet: { text, highlights: findSearchMatches(text, words) },
                link: `/chats/${msg.chatId}/messages/${msg.id}`,
                ...(file
                  ? {
                      file: {
                        id: file.id,
                        name: file.name,
                        kind: file.kind,
                        mime: file.mime,
                        size: file.size,
                      },
                    }
                  : {}),
                key: i,
              };
            }),
        );
      let hits = find((t, w) => t.includes(w));
      const approximate = hits.length === 0;
      if (approximate) hits = find((t, w) => t.split(/\W+/).some((x) => oneLetterOff(x, w)));
      return ok({
        messages: hits.map(({ key: _key, ...hit }) => hit),
        users: [],
        nextCursor: null,
        terms: words,
        approximate: approximate && hits.length > 0,
      });
    }

    let m = path.match(/^\/api\/contacts\/requests\/([^/]+)(\/accept)?$/);
    if (m) {
      const request = state.requests.find((r) => r.id === m![1]);
      if (!request) return notFound();
      state.requests = state.requests.filter((r) => r !== request);
      if (m[2]) {
        const contact: Contact = {
          user: request.user,
          online: true,
          lastSeenAt: null,
          since: new Date().toISOString(),
        };
        state.contacts.push(contact);
        return ok(contact);
      }
      return ok();
    }
    m = path.match(/^\/api\/users\/([^/]+)(\/block)?$/);
    if (m) {
      const user = state.users.find((u) => u.id === m![1]) ?? (m[1] === ME ? testUser : undefined);
      if (!user) return notFound();
      if (!m[2]) return ok(user);
      if (req.method === 'POST') state.blocked.push(user);
      else state.blocked = state.blocked.filter((u) => u.id !== user.id);
      return ok();
    }

    m = path.match(/^\/api\/chats\/([^/]+)(\/[a-z]+)?$/);
    if (m) {
      const chatId = m[1]!;
      const sub = m[2];
      const chat = findChat(chatId);
      if (!chat) return notFound();
      if (!sub && req.method === 'GET') return ok(chat);
      if (sub === '/members') return ok({ members: state.members[chatId] ?? [] });
      if (sub === '/read') {
        const upToSeq = (req.body as { upToSeq: number }).upToSeq;
        return ok({ chatId, lastReadSeq: upToSeq, unreadCount: 0 });
      }
      if (sub === '/messages' && req.method === 'GET') {
        const all = state.pages[chatId] ?? [];
        // ?after=seq: the page after it (the first unread ones); otherwise every message.
        const after = url.searchParams.get('after');
        if (after === null) return ok({ messages: all, hasMoreBefore: false, hasMoreAfter: false });
        const limit = Number(url.searchParams.get('limit') ?? 50);
        const later = all.filter((m) => m.seq > Number(after));
        return ok({
          messages: later.slice(0, limit),
          hasMoreBefore: later.length < all.length,
          hasMoreAfter: later.length > limit,
        });
      }
      if (sub === '/messages' && req.method === 'POST') {
        const body = req.body as { clientMsgId: string; body: string; priority?: Message['priority'] };
        const page = (state.pages[chatId] ??= []);
        const sent = message(chatId, chat.lastSeq + 1, ME, body.body, {
          clientMsgId: body.clientMsgId,
          priority: body.priority ?? 'normal',
        });
        page.push(sent);
        replaceChat({ ...chat, lastSeq: sent.seq });
        return { status: 201, body: sent };
      }
      if (sub === '/accept') {
        const accepted = { ...chat, request: null };
        replaceChat(accepted);
        return ok(accepted);
      }
      if (sub === '/reject') {
        state.chats = state.chats.filter((c) => c.id !== chatId);
        return ok();
      }
      if (sub === '/preferences') {
        const preferences: ChatPreferences = {
          ...chat.preferences,
          ...(req.body as Partial<ChatPreferences>),
        };
        replaceChat({ ...chat, preferences });
        return ok(preferences);
      }
      if (sub === '/settings') {
        const { messageTtlSeconds } = req.body as { messageTtlSeconds: number | null };
        const changed = { ...chat, messageTtlSeconds };
        replaceChat(changed);
        return ok(changed);
      }
    }
    return notFound();
  }

  const net = stubNetwork(handle);
  return {
    state,
    requests: net.requests,
    /** Requests to a path (without the query), oldest first. */
    calls: (method: string, path: string) =>
      net.requests.filter(
        (r) => r.method === method && new URL(r.url, 'http://parley.test').pathname === path,
      ),
  };
}

/** Two words of the same length that differ in one letter. */
function oneLetterOff(a: string, b: string): boolean {
  if (a.length !== b.length || a.length < 4) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) diff += 1;
  return diff === 1;
}
