import { describe, expect, it } from 'vitest';
import { BOB, CAROL, ME, id, message } from '../test/chat-fixtures';
import {
  type ChatMessages,
  type PendingMessage,
  WINDOW_MAX,
  emptyChatMessages,
  evictFar,
  gapBefore,
  isGapOpen,
  withChangedMessages,
  withLiveMessage,
  withPage,
  withReaction,
} from './messages-store';

const C = id('chat');
const seqs = (cm: ChatMessages) => cm.order.map((mid) => cm.byId[mid]!.seq);
const page = (ms: ReturnType<typeof message>[], more: { before?: boolean; after?: boolean } = {}) => ({
  messages: ms,
  hasMoreBefore: more.before ?? false,
  hasMoreAfter: more.after ?? false,
});

function pending(clientMsgId: string, body = 'on its way'): PendingMessage {
  return {
    clientMsgId,
    chatId: C,
    body,
    replyTo: null,
    priority: 'normal',
    createdAt: new Date().toISOString(),
    status: 'pending',
    error: null,
  };
}

describe('messages of a chat', () => {
  it('orders by seq, never by arrival or clock', () => {
    const late = message(C, 3, BOB, 'third', { createdAt: '2020-01-01T00:00:00.000Z' });
    let cm = withPage(
      emptyChatMessages,
      page([message(C, 5, BOB, 'fifth'), late, message(C, 4, ME, 'fourth')]),
      'replace',
    );
    expect(seqs(cm)).toEqual([3, 4, 5]);
    cm = withLiveMessage(cm, message(C, 7, BOB, 'seventh'));
    cm = withLiveMessage(cm, message(C, 6, BOB, 'sixth'));
    expect(seqs(cm)).toEqual([3, 4, 5, 6, 7]);
  });

  it('keeps one copy of a message delivered twice, and never goes back to an older version', () => {
    const m = message(C, 1, BOB, 'hello');
    const edited = { ...m, body: 'hello (edited)', version: 2, editedAt: m.createdAt };
    let cm = withPage(emptyChatMessages, page([m]), 'replace');
    cm = withLiveMessage(cm, m);
    cm = withChangedMessages(cm, [edited]);
    cm = withLiveMessage(cm, m); // a late duplicate of the original
    cm = withPage(cm, page([m]), 'merge'); // and a stale page
    expect(cm.order).toEqual([m.id]);
    expect(cm.byId[m.id]?.body).toBe('hello (edited)');
  });

  it('replaces my pending message by the stored one with the same clientMsgId, whichever comes first', () => {
    const base = withPage(emptyChatMessages, page([message(C, 1, BOB, 'hi')]), 'replace');
    const clientMsgId = id('my send');
    const stored = message(C, 2, ME, 'on its way', { clientMsgId });
    const withPending: ChatMessages = { ...base, pending: [pending(id('other send')), pending(clientMsgId)] };

    // The ack first, then the event (or the other way round): one message, the other pending kept.
    for (const arrivals of [
      [stored, stored],
      [{ ...stored }, stored],
    ]) {
      let cm = withPending;
      for (const m of arrivals) cm = withLiveMessage(cm, m);
      expect(seqs(cm)).toEqual([1, 2]);
      expect(cm.pending.map((p) => p.clientMsgId)).toEqual([id('other send')]);
    }
    // A page that already holds it (REST fallback, re-sync) reconciles too.
    const viaPage = withPage(withPending, page([stored]), 'merge');
    expect(viaPage.pending.map((p) => p.clientMsgId)).toEqual([id('other send')]);
  });

  it('does not append live messages to a window that stops short of the newest', () => {
    const clientMsgId = id('mine');
    let cm = withPage(
      emptyChatMessages,
      page([message(C, 10, BOB, 'old')], { before: true, after: true }),
      'replace',
    );
    cm = { ...cm, pending: [pending(clientMsgId)] };
    cm = withLiveMessage(cm, message(C, 40, ME, 'new', { clientMsgId }));
    expect(seqs(cm)).toEqual([10]);
    expect(cm.pending).toEqual([]);
  });

  it('adds older and newer pages to the window', () => {
    let cm = withPage(
      emptyChatMessages,
      page([message(C, 5, BOB, 'e')], { before: true, after: true }),
      'replace',
    );
    cm = withPage(
      cm,
      page([message(C, 3, BOB, 'c'), message(C, 4, BOB, 'd')], { before: false, after: true }),
      'older',
    );
    expect(seqs(cm)).toEqual([3, 4, 5]);
    expect(cm.hasMoreBefore).toBe(false);
    expect(cm.hasMoreAfter).toBe(true);
    cm = withPage(cm, page([message(C, 6, BOB, 'f')], { before: true, after: false }), 'newer');
    expect(seqs(cm)).toEqual([3, 4, 5, 6]);
    expect(cm.hasMoreBefore).toBe(false);
    expect(cm.hasMoreAfter).toBe(false);
  });

  it('applies a reaction event once, by the message version it carries', () => {
    const m = message(C, 1, BOB, 'react to me');
    let cm = withPage(emptyChatMessages, page([m]), 'replace');
    cm = withReaction(cm, m.id, ME, '👍', 'add', null); // my own, applied at once
    cm = withReaction(cm, m.id, ME, '👍', 'add', 2); // its event
    cm = withReaction(cm, m.id, BOB, '👍', 'add', 3);
    cm = withReaction(cm, m.id, BOB, '👍', 'add', 3); // duplicate
    cm = withReaction(cm, m.id, ME, '👍', 'remove', 2); // stale replay of an older change
    expect(cm.byId[m.id]?.reactions).toEqual([{ emoji: '👍', userIds: [ME, BOB] }]);
    expect(cm.byId[m.id]?.version).toBe(3);
  });

  it('tells the seqs a live message skips at the newest end, until every one of them is in', () => {
    let cm = withPage(
      emptyChatMessages,
      page([message(C, 9, BOB, 'i'), message(C, 10, BOB, 'j')]),
      'replace',
    );
    expect(gapBefore(cm, message(C, 11, BOB, 'next in line'))).toBeNull();
    const gap = gapBefore(cm, message(C, 13, BOB, 'm'));
    expect(gap).toEqual({ afterSeq: 10, beforeSeq: 13 });

    cm = withLiveMessage(cm, message(C, 13, BOB, 'm'));
    expect(isGapOpen(cm, gap!)).toBe(true);
    cm = withLiveMessage(cm, message(C, 12, BOB, 'l')); // late, out of order
    expect(gapBefore(cm, message(C, 12, BOB, 'l'))).toBeNull(); // already in: no new gap
    expect(isGapOpen(cm, gap!)).toBe(true); // 11 still missing
    cm = withPage(
      cm,
      page([message(C, 11, BOB, 'k'), message(C, 12, BOB, 'l'), message(C, 13, BOB, 'm')]),
      'merge',
    );
    expect(seqs(cm)).toEqual([9, 10, 11, 12, 13]);
    expect(isGapOpen(cm, gap!)).toBe(false);
  });
});

describe('a window far from the newest (eviction)', () => {
  // A chat of 5,000 messages behind cursors as GET /messages answers them, 50 a page.
  const TOTAL = 5_000;
  let all: ReturnType<typeof message>[] = [];
  const pageOf = (ms: typeof all, first: number, last: number) =>
    page(ms, { before: first > 1, after: last < all.length });
  const latest = () => pageOf(all.slice(-50), all.length - 49, all.length);
  const before = (seq: number) => {
    const ms = all.slice(Math.max(0, seq - 51), seq - 1);
    return pageOf(ms, ms[0]!.seq, seq - 1);
  };
  const after = (seq: number) => {
    const ms = all.slice(seq, seq + 50);
    return pageOf(ms, seq + 1, ms.at(-1)!.seq);
  };
  const first = (cm: ChatMessages) => cm.byId[cm.order[0]!]!.seq;
  const last = (cm: ChatMessages) => cm.byId[cm.order.at(-1)!]!.seq;
  const consecutive = (cm: ChatMessages) => seqs(cm).every((s, i, xs) => i === 0 || s === xs[i - 1]! + 1);

  it('holds at most WINDOW_MAX messages, drops the far end, and fetches it again by cursor', () => {
    all = Array.from({ length: TOTAL }, (_, i) => message(C, i + 1, BOB, `m${i + 1}`));
    let cm = withPage(emptyChatMessages, latest(), 'replace');
    // Scrolled up to the very first message: the newest ones went, the window stayed whole.
    while (cm.hasMoreBefore) {
      cm = withPage(cm, before(first(cm)), 'older');
      expect(cm.order.length).toBeLessThanOrEqual(WINDOW_MAX);
    }
    expect(first(cm)).toBe(1);
    expect(last(cm)).toBe(WINDOW_MAX);
    expect(cm.hasMoreAfter).toBe(true);
    expect(consecutive(cm)).toBe(true);
    expect(Object.keys(cm.byId)).toHaveLength(WINDOW_MAX);

    // Back down to the newest: every dropped message comes back, each once, in order.
    const seen = new Set(seqs(cm));
    while (cm.hasMoreAfter) {
      cm = withPage(cm, after(last(cm)), 'newer');
      expect(cm.order.length).toBeLessThanOrEqual(WINDOW_MAX);
      expect(consecutive(cm)).toBe(true);
      for (const s of seqs(cm)) seen.add(s);
    }
    expect(seen.size).toBe(TOTAL);
    expect(last(cm)).toBe(TOTAL);
    expect(first(cm)).toBe(TOTAL - WINDOW_MAX + 1);
    expect(cm.hasMoreBefore).toBe(true);
  });

  it('messages arriving while scrolled far up show after jumping to the latest', () => {
    all = Array.from({ length: TOTAL }, (_, i) => message(C, i + 1, BOB, `m${i + 1}`));
    let cm = withPage(emptyChatMessages, latest(), 'replace');
    while (first(cm) > 1_000) cm = withPage(cm, before(first(cm)), 'older');
    expect(cm.hasMoreAfter).toBe(true);
    // Live while far up: not appended to a window that stops short of the newest…
    const live = message(C, TOTAL + 1, CAROL, 'while you were reading old ones');
    all.push(live);
    cm = withLiveMessage(cm, live);
    expect(cm.byId[live.id]).toBeUndefined();
    // …and there once the newest page is fetched ("Latest").
    cm = withPage(cm, latest(), 'replace');
    expect(cm.byId[live.id]?.body).toBe('while you were reading old ones');
    expect(cm.hasMoreAfter).toBe(false);
    expect(last(cm)).toBe(TOTAL + 1);
  });

  it('leaves a window within the limit as it is', () => {
    const cm = withPage(
      emptyChatMessages,
      page([message(C, 1, BOB, 'a'), message(C, 2, BOB, 'b')]),
      'replace',
    );
    expect(evictFar(cm, 'older', 2)).toBe(cm);
    const cut = evictFar(cm, 'newer', 1);
    expect(seqs(cut)).toEqual([2]);
    expect(cut.hasMoreBefore).toBe(true);
    expect(cut.hasMoreAfter).toBe(false);
  });
});
