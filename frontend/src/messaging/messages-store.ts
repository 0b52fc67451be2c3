/**
 * Messages of each open chat: a window of consecutive seqs (the newest page, or a page
 * around a deep link), keyed by id and ordered by seq, plus my optimistic sends keyed by
 * clientMsgId until the server gives them a seq. Every update is idempotent: delivery is
 * at least once, so the same message or change may arrive twice.
 */
import type { Attachment, Message, MessagePage, MessagePriority } from '@parley/contracts';
import { create } from 'zustand';

export type PendingStatus = 'pending' | 'failed';

export interface PendingMessage {
  clientMsgId: string;
  chatId: string;
  body: string;
  replyTo: Message['replyTo'];
  priority: MessagePriority;
  /** Finished uploads sent with it, in order. */
  attachments?: Attachment[];
  createdAt: string;
  status: PendingStatus;
  error: string | null;
  /** The server's error code when it refused the message (BLOCKED, CHAT_REQUEST_LIMIT…). */
  errorCode?: string | null;
}

export interface ChatMessages {
  byId: Record<string, Message>;
  /** Ids by seq, oldest first. */
  order: string[];
  /** My sends without a seq yet, in the order they were written. */
  pending: PendingMessage[];
  hasMoreBefore: boolean;
  /** The window ends before the newest message (opened around a deep link). */
  hasMoreAfter: boolean;
  loaded: boolean;
}

export const emptyChatMessages: ChatMessages = {
  byId: {},
  order: [],
  pending: [],
  hasMoreBefore: false,
  hasMoreAfter: false,
  loaded: false,
};

export type PageMode = 'replace' | 'older' | 'newer' | 'merge';

/** Processing only moves forward: pending → ready or failed. */
function settled(a: Attachment): boolean {
  return a.status !== 'pending';
}

/**
 * An attachment's processing does not bump the message's version (media:updated carries
 * the attachment), and never goes back: a copy fetched before the event must not take a
 * finished attachment back to pending.
 */
function keepSettledAttachments(incoming: Message, existing: Pick<Message, 'attachments'>): Message {
  if (existing.attachments.length === 0 || incoming.attachments.length === 0) return incoming;
  let changed = false;
  const attachments = incoming.attachments.map((a) => {
    const known = existing.attachments.find((e) => e.id === a.id);
    if (known && settled(known) && !settled(a)) {
      changed = true;
      return known;
    }
    return a;
  });
  return changed ? { ...incoming, attachments } : incoming;
}

/** Newer version wins; equal versions take the incoming copy (same content). */
function upsertAll(cm: ChatMessages, messages: Message[]): ChatMessages {
  if (messages.length === 0) return cm;
  const byId = { ...cm.byId };
  let added = false;
  const confirmed = new Set<string>();
  for (const m of messages) {
    const existing = byId[m.id];
    if (existing && existing.version > m.version) continue;
    if (!existing) added = true;
    byId[m.id] = existing ? keepSettledAttachments(m, existing) : m;
    if (m.clientMsgId) confirmed.add(m.clientMsgId);
  }
  const order = added
    ? Object.values(byId)
        .sort((a, b) => a.seq - b.seq)
        .map((m) => m.id)
    : cm.order;
  const pending = confirmed.size ? cm.pending.filter((p) => !confirmed.has(p.clientMsgId)) : cm.pending;
  return { ...cm, byId, order, pending };
}

/**
 * The most messages a chat's window holds. Scrolling on past it drops the far end (the end
 * away from where the page came in), which is then fetched again by cursor when scrolled
 * back to: memory stays flat however far back a chat is read.
 */
export const WINDOW_MAX = 2_000;

/**
 * Drop messages from the far end of a window longer than `max`: the newest ones after an
 * older page came in (the window then stops short of the newest, like one around a deep
 * link), the oldest ones after a newer page. The window stays a run of consecutive seqs, so
 * the cursors of loadOlder/loadNewer fetch exactly what was dropped.
 */
export function evictFar(cm: ChatMessages, cameIn: 'older' | 'newer', max = WINDOW_MAX): ChatMessages {
  const excess = cm.order.length - max;
  if (excess <= 0) return cm;
  const gone = cameIn === 'older' ? cm.order.slice(max) : cm.order.slice(0, excess);
  const order = cameIn === 'older' ? cm.order.slice(0, max) : cm.order.slice(excess);
  const byId = { ...cm.byId };
  for (const id of gone) delete byId[id];
  return cameIn === 'older'
    ? { ...cm, byId, order, hasMoreAfter: true }
    : { ...cm, byId, order, hasMoreBefore: true };
}

/** Apply a page from GET /messages to a chat's window. */
export function withPage(cm: ChatMessages, page: MessagePage, mode: PageMode): ChatMessages {
  if (mode === 'replace') {
    return upsertAll(
      {
        ...emptyChatMessages,
        pending: cm.pending,
        loaded: true,
        hasMoreBefore: page.hasMoreBefore,
        hasMoreAfter: page.hasMoreAfter,
      },
      page.messages.map((m) => {
        const known = cm.byId[m.id];
        return known ? keepSettledAttachments(m, known) : m;
      }),
    );
  }
  const next = upsertAll({ ...cm, loaded: true }, page.messages);
  if (mode === 'older') return evictFar({ ...next, hasMoreBefore: page.hasMoreBefore }, 'older');
  if (mode === 'newer') return evictFar({ ...next, hasMoreAfter: page.hasMoreAfter }, 'newer');
  return next;
}

/** A message that arrived live (event, or the ack of my own send). */
export function withLiveMessage(cm: ChatMessages, live: Message): ChatMessages {
  // My own message's copy on its way may have heard of its attachments' processing already.
  const mine = live.clientMsgId ? cm.pending.find((p) => p.clientMsgId === live.clientMsgId) : undefined;
  const message = mine?.attachments ? keepSettledAttachments(live, { attachments: mine.attachments }) : live;
  const pending = mine ? cm.pending.filter((p) => p !== mine) : cm.pending;
  // Not loaded, or the window stops short of the newest: it is fetched when scrolled to.
  if (!cm.loaded || (cm.hasMoreAfter && !cm.byId[message.id])) return { ...cm, pending };
  return upsertAll({ ...cm, pending }, [message]);
}

/** Seqs a chat's window misses: every seq strictly between afterSeq and beforeSeq. */
export interface SeqGap {
  afterSeq: number;
  beforeSeq: number;
}

/**
 * The seqs a live message skips at the newest end of the window (the window holds 10 and
 * 12 arrives: 11 is missing), or null. Only a window at the live end can tell; a late
 * message that lands inside the window skips nothing. A message deleted for me or expired
 * at the end of the window looks like a gap too: one fetch finds nothing new, which is harmless.
 */
export function gapBefore(cm: ChatMessages | undefined, message: Message): SeqGap | null {
  if (!cm?.loaded || cm.hasMoreAfter || cm.byId[message.id]) return null;
  const last = maxSeq(cm);
  return message.seq > last + 1 ? { afterSeq: last, beforeSeq: message.seq } : null;
}

/** True while some seq of the gap is still not in a window at the live end. */
export function isGapOpen(cm: ChatMessages | undefined, gap: SeqGap): boolean {
  if (!cm?.loaded || cm.hasMoreAfter) return false;
  let held = 0;
  for (const id of cm.order) {
    const seq = cm.byId[id]?.seq ?? 0;
    if (seq > gap.afterSeq && seq < gap.beforeSeq) held += 1;
  }
  return held < gap.beforeSeq - gap.afterSeq - 1;
}

/** Edits and changes only touch messages inside the window. */
export function withChangedMessages(cm: ChatMessages, messages: Message[]): ChatMessages {
  const known = messages.filter((m) => cm.byId[m.id]);
  return known.length ? upsertAll(cm, known) : cm;
}

/*
 * message:deleted and reaction:* events carry the message's new `version`: a message that
 * already has it (or a later one, from a fresher REST answer) is left alone, so a replay
 * changes nothing. My own changes are applied at once without a version (the ack has
 * none); the event that follows only raises the version.
 */

export function withDeleted(
  cm: ChatMessages,
  messageId: string,
  scope: 'everyone' | 'me',
  version: number | null,
  deletedAt: string,
): ChatMessages {
  if (scope === 'me') {
    if (!cm.byId[messageId]) return cm;
    const byId = { ...cm.byId };
    delete byId[messageId];
    return { ...cm, byId, order: cm.order.filter((id) => id !== messageId) };
  }
  let changed = false;
  const byId: Record<string, Message> = {};
  for (const [id, m] of Object.entries(cm.byId)) {
    let next = m;
    if (id === messageId && (version === null || m.version < version)) {
      next = m.deletedAt
        ? { ...m, version: version ?? m.version }
        : { ...m, body: '', reactions: [], deletedAt, version: version ?? m.version };
    }
    if (next.replyTo?.id === messageId && !next.replyTo.deleted) {
      next = { ...next, replyTo: { ...next.replyTo, bodyPreview: '', deleted: true } };
    }
    if (next !== m) changed = true;
    byId[id] = next;
  }
  return changed ? { ...cm, byId } : cm;
}

export function withReaction(
  cm: ChatMessages,
  messageId: string,
  userId: string,
  emoji: string,
  op: 'add' | 'remove',
  version: number | null,
): ChatMessages {
  const m = cm.byId[messageId];
  if (!m || m.deletedAt) return cm;
  if (version !== null && m.version >= version) return cm;
  const summary = m.reactions.find((r) => r.emoji === emoji);
  const has = summary?.userIds.includes(userId) ?? false;
  let reactions = m.reactions;
  if (op === 'remove' && has) {
    reactions = m.reactions
      .map((r) => (r.emoji === emoji ? { ...r, userIds: r.userIds.filter((u) => u !== userId) } : r))
      .filter((r) => r.userIds.length > 0);
  } else if (op === 'add' && !has) {
    reactions = summary
      ? m.reactions.map((r) => (r.emoji === emoji ? { ...r, userIds: [...r.userIds, userId] } : r))
      : [...m.reactions, { emoji, userIds: [userId] }];
  }
  const nextVersion = version ?? m.version;
  if (reactions === m.reactions && nextVersion === m.version) return cm;
  return { ...cm, byId: { ...cm.byId, [messageId]: { ...m, reactions, version: nextVersion } } };
}

/**
 * media:updated: one attachment of a message (or of my message still on its way) moved on
 * in processing. A settled attachment is not taken back to pending by a late event.
 */
export function withAttachment(
  cm: ChatMessages,
  messageId: string | null,
  attachment: Attachment,
): ChatMessages {
  const replace = (list: Attachment[]): Attachment[] | null => {
    const i = list.findIndex((a) => a.id === attachment.id);
    const known = list[i];
    if (!known || (settled(known) && !settled(attachment))) return null;
    if (JSON.stringify(known) === JSON.stringify(attachment)) return null; // A replay.
    return list.map((a, j) => (j === i ? attachment : a));
  };
  let next = cm;
  const m = messageId ? cm.byId[messageId] : undefined;
  if (m && !m.deletedAt) {
    const attachments = replace(m.attachments);
    if (attachments) next = { ...next, byId: { ...next.byId, [m.id]: { ...m, attachments } } };
  }
  if (cm.pending.some((p) => p.attachments?.some((a) => a.id === attachment.id))) {
    let changed = false;
    const pending = cm.pending.map((p) => {
      const attachments = p.attachments ? replace(p.attachments) : null;
      if (!attachments) return p;
      changed = true;
      return { ...p, attachments };
    });
    if (changed) next = { ...next, pending };
  }
  return next;
}

/**
 * Disappearing messages whose time has come, by the client's clock: gone at once, even
 * before the server's message:expired arrives (which then changes nothing).
 */
export function withoutExpired(cm: ChatMessages, nowMs: number): ChatMessages {
  const due = cm.order.filter((id) => {
    const at = cm.byId[id]?.expiresAt;
    return at !== null && at !== undefined && Date.parse(at) <= nowMs;
  });
  if (due.length === 0) return cm;
  const gone = new Set(due);
  const byId = { ...cm.byId };
  for (const id of due) delete byId[id];
  return { ...cm, byId, order: cm.order.filter((id) => !gone.has(id)) };
}

/** The soonest expiresAt (ms) among the loaded messages of every chat; null when none expires. */
export function nextExpiry(byChat: Record<string, ChatMessages>): number | null {
  let next: number | null = null;
  for (const cm of Object.values(byChat)) {
    for (const id of cm.order) {
      const at = cm.byId[id]?.expiresAt;
      if (!at) continue;
      const ms = Date.parse(at);
      if (next === null || ms < next) next = ms;
    }
  }
  return next;
}

export function maxSeq(cm: ChatMessages | undefined): number {
  if (!cm || cm.order.length === 0) return 0;
  const last = cm.order[cm.order.length - 1];
  return last ? (cm.byId[last]?.seq ?? 0) : 0;
}

export function minSeq(cm: ChatMessages | undefined): number {
  const first = cm?.order[0];
  return first ? (cm.byId[first]?.seq ?? 0) : 0;
}

interface MessagesState {
  byChat: Record<string, ChatMessages>;
  update: (chatId: string, fn: (cm: ChatMessages) => ChatMessages) => void;
  drop: (chatId: string) => void;
  clear: () => void;
}

export const useMessagesStore = create<MessagesState>()((set) => ({
  byChat: {},
  update: (chatId, fn) =>
    set((s) => {
      const current = s.byChat[chatId] ?? emptyChatMessages;
      const next = fn(current);
      return next === current ? s : { byChat: { ...s.byChat, [chatId]: next } };
    }),
  drop: (chatId) =>
    set((s) => {
      if (!s.byChat[chatId]) return s;
      const byChat = { ...s.byChat };
      delete byChat[chatId];
      return { byChat };
    }),
  clear: () => set({ byChat: {} }),
}));

export function updateChatMessages(chatId: string, fn: (cm: ChatMessages) => ChatMessages): void {
  useMessagesStore.getState().update(chatId, fn);
}

export function addPending(p: PendingMessage): void {
  updateChatMessages(p.chatId, (cm) => ({ ...cm, pending: [...cm.pending, p] }));
}

export function setPendingStatus(
  chatId: string,
  clientMsgId: string,
  status: PendingStatus,
  error: string | null,
  errorCode: string | null = null,
): void {
  updateChatMessages(chatId, (cm) =>
    cm.pending.some((p) => p.clientMsgId === clientMsgId)
      ? {
          ...cm,
          pending: cm.pending.map((p) =>
            p.clientMsgId === clientMsgId ? { ...p, status, error, errorCode } : p,
          ),
        }
      : cm,
  );
}
