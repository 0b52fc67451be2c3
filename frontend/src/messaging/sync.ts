/**
 * Loading state from REST: the chat list, pages of messages, members, and the re-sync of
 * specs/protocol.md (chat list, then messages after the last seq the client has, then
 * changes since the last chat version it saw).
 */
import {
  type Chat,
  type ChatMember,
  MESSAGE_PAGE_DEFAULT,
  MESSAGE_PAGE_MAX,
  type MessagePage,
} from '@parley/contracts';
import { api } from '../api/client';
import { networkProblem, toProblem } from '../api/errors';
import { useContactsStore } from '../people/contacts-store';
import { forgetChat } from './apply-event';
import { useChatsStore } from './chats-store';
import { useMembersStore } from './members-store';
import {
  type PageMode,
  maxSeq,
  minSeq,
  updateChatMessages,
  useMessagesStore,
  withChangedMessages,
  withPage,
} from './messages-store';
import { usePresenceStore } from './presence-store';

/** A REST call answered with an error status (network failures throw as they are). */
export class LoadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function fail(status: number, body: unknown): never {
  throw new LoadError(status, toProblem(status, body).message);
}

export function loadErrorMessage(err: unknown): string {
  return err instanceof LoadError ? err.message : networkProblem().message;
}

/** Gaps longer than this are not walked page by page: the window jumps to the newest page. */
const MAX_CATCH_UP_PAGES = 5;

/** Every page of the main list (or of the archived chats). */
export async function fetchAllChats(archived = false): Promise<Chat[]> {
  const all: Chat[] = [];
  let cursor: string | undefined;
  for (;;) {
    const res = await api.chats.list({
      query: {
        limit: 100,
        ...(archived ? { archived: 'true' as const } : {}),
        ...(cursor ? { cursor } : {}),
      },
    });
    if (res.status !== 200) fail(res.status, res.body);
    all.push(...res.body.chats);
    if (!res.body.nextCursor) return all;
    cursor = res.body.nextCursor;
  }
}

/** Chat requests others sent me (kept apart from the lists above by the server). */
export async function fetchChatRequests(): Promise<Chat[]> {
  const res = await api.chats.listRequests();
  if (res.status !== 200) fail(res.status, res.body);
  return res.body.chats;
}

/** The main list, the archived chats and the requests, as one set (the store tells them apart). */
export async function fetchEveryChat(): Promise<Chat[]> {
  const [main, archived, requests] = await Promise.all([
    fetchAllChats(false),
    fetchAllChats(true),
    fetchChatRequests(),
  ]);
  const byId = new Map<string, Chat>();
  for (const chat of [...main, ...archived, ...requests]) byId.set(chat.id, chat);
  return [...byId.values()];
}

/** Contacts, contact requests and blocked people; their presence goes to the presence store. */
export async function loadPeople(): Promise<void> {
  const [contacts, requests, blocked] = await Promise.all([
    api.contacts.list(),
    api.contacts.listRequests(),
    api.blocks.list(),
  ]);
  if (contacts.status !== 200) fail(contacts.status, contacts.body);
  if (requests.status !== 200) fail(requests.status, requests.body);
  if (blocked.status !== 200) fail(blocked.status, blocked.body);
  useContactsStore.getState().setAll({
    contacts: contacts.body.contacts,
    requests: [...requests.body.incoming, ...requests.body.outgoing],
    blocked: blocked.body.users,
  });
  const presence = usePresenceStore.getState();
  for (const c of contacts.body.contacts)
    presence.set(c.user.id, { online: c.online, lastSeenAt: c.lastSeenAt });
}

/** One chat again (an event the client could not apply exactly, or a chat it did not know). */
export async function refreshChat(chatId: string): Promise<Chat | null> {
  const res = await api.chats.get({ params: { chatId } });
  if (res.status === 200) {
    useChatsStore.getState().upsert(res.body);
    return res.body;
  }
  if (res.status === 404) {
    forgetChat(chatId);
    return null;
  }
  fail(res.status, res.body);
}

async function fetchPage(
  chatId: string,
  query: { before?: number; after?: number; around?: string; limit?: number },
): Promise<MessagePage> {
  const res = await api.messages.list({
    params: { chatId },
    query: { limit: MESSAGE_PAGE_DEFAULT, ...query },
  });
  if (res.status !== 200) fail(res.status, res.body);
  return res.body;
}

function applyPage(chatId: string, page: MessagePage, mode: PageMode): void {
  updateChatMessages(chatId, (cm) => withPage(cm, page, mode));
}

/** The newest page, replacing whatever window the chat had. */
export async function loadLatest(chatId: string): Promise<void> {
  applyPage(chatId, await fetchPage(chatId, {}), 'replace');
}

/** The page of messages after `afterSeq` (the first unread ones), replacing the window. */
export async function loadFrom(chatId: string, afterSeq: number): Promise<void> {
  applyPage(chatId, await fetchPage(chatId, { after: afterSeq }), 'replace');
}

export async function loadOlder(chatId: string): Promise<void> {
  const cm = useMessagesStore.getState().byChat[chatId];
  if (!cm?.loaded || !cm.hasMoreBefore) return;
  applyPage(chatId, await fetchPage(chatId, { before: minSeq(cm) }), 'older');
}

export async function loadNewer(chatId: string): Promise<void> {
  const cm = useMessagesStore.getState().byChat[chatId];
  if (!cm?.loaded || !cm.hasMoreAfter) return;
  applyPage(chatId, await fetchPage(chatId, { after: maxSeq(cm) }), 'newer');
}

/** A window around one message (deep links, reply quotes). False when it is not there. */
export async function loadAround(chatId: string, messageId: string): Promise<boolean> {
  const page = await fetchPage(chatId, { around: messageId });
  applyPage(chatId, page, 'replace');
  return page.messages.some((m) => m.id === messageId);
}

export async function loadMembers(chatId: string): Promise<ChatMember[]> {
  const res = await api.chats.listMembers({ params: { chatId } });
  if (res.status !== 200) fail(res.status, res.body);
  useMembersStore.getState().setMembers(chatId, res.body.members);
  usePresenceStore.getState().fromMembers(res.body.members);
  return res.body.members;
}

/**
 * Every message after afterSeq into a window at the newest end, until the end (or jump to
 * the newest page when that is too far).
 */
async function catchUp(chatId: string, afterSeq: number): Promise<void> {
  let after = afterSeq;
  for (let i = 0; i < MAX_CATCH_UP_PAGES; i++) {
    const page = await fetchPage(chatId, { after, limit: MESSAGE_PAGE_MAX });
    const cm = useMessagesStore.getState().byChat[chatId];
    // Closed, or moved away from the newest end meanwhile (a deep link): the page fits no more.
    if (!cm?.loaded || cm.hasMoreAfter) return;
    // 'merge': the window was at the newest end, so it still is once the page is in.
    applyPage(chatId, page, 'merge');
    if (!page.hasMoreAfter) return;
    after = Math.max(after, page.messages.at(-1)?.seq ?? after);
  }
  await loadLatest(chatId);
}

/**
 * Messages a live event skipped (a seq gap after afterSeq), merged into the window by id
 * and seq: whatever of them arrived live meanwhile stays one copy.
 */
export async function fetchGap(chatId: string, afterSeq: number): Promise<void> {
  const cm = useMessagesStore.getState().byChat[chatId];
  if (!cm?.loaded || cm.hasMoreAfter) return;
  await catchUp(chatId, afterSeq);
}

async function fetchChanges(chatId: string, sinceVersion: number): Promise<void> {
  let since = sinceVersion;
  for (;;) {
    const res = await api.messages.changes({
      params: { chatId },
      query: { sinceVersion: since, limit: MESSAGE_PAGE_MAX },
    });
    if (res.status !== 200) fail(res.status, res.body);
    const { messages, version, hasMore } = res.body;
    updateChatMessages(chatId, (cm) => withChangedMessages(cm, messages));
    if (!hasMore || version <= since) return;
    since = version;
  }
}

/**
 * Bring every store up to date from REST (after sync:resync, a lost position, or the first
 * connection). Only chats whose messages are loaded need their messages fetched; the rest
 * load when opened.
 */
export async function resync(): Promise<void> {
  const seen = useChatsStore.getState().chats;
  // People load alongside; a failure there leaves the chats usable (the next re-sync retries).
  const people = loadPeople().catch(() => {});
  const fresh = await fetchEveryChat();
  const freshIds = new Set(fresh.map((c) => c.id));
  for (const id of Object.keys(seen)) if (!freshIds.has(id)) forgetChat(id);
  useChatsStore.getState().setAll(fresh);

  for (const chat of fresh) {
    const cm = useMessagesStore.getState().byChat[chat.id];
    if (!cm?.loaded) continue;
    if (!cm.hasMoreAfter && chat.lastSeq > maxSeq(cm)) await catchUp(chat.id, maxSeq(cm));
    const seenVersion = seen[chat.id]?.version;
    if (seenVersion !== undefined && chat.version > seenVersion) await fetchChanges(chat.id, seenVersion);
  }
  // Receipts and presence may have moved while no events came: the opened chats' members again.
  for (const chatId of Object.keys(useMembersStore.getState().byChat)) {
    if (freshIds.has(chatId)) await loadMembers(chatId);
  }
  await people;
}
