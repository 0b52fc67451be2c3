/**
 * Seq gaps end to end below the socket: live messages applied to the stores, the gap filler
 * on the real REST loader over a stubbed network. Time is fake: the grace a gap gets to fill
 * itself is stepped through, never waited for.
 */
import type { Message } from '@parley/contracts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BOB, ME, chat, id, message } from '../test/chat-fixtures';
import { type StubReply, errorReply, stubNetwork } from '../test/stub-network';
import { applyEvent } from './apply-event';
import { useChatsStore } from './chats-store';
import { GAP_GRACE_MS, GAP_RETRY_MS, type GapFiller, createGapFiller } from './gap-filler';
import { isGapOpen, updateChatMessages, useMessagesStore, withPage } from './messages-store';
import { fetchGap } from './sync';
import { WAIT } from '../test/wait';

const C = id('gappy chat');
const all = Array.from({ length: 20 }, (_, i) => message(C, i + 1, BOB, `message ${i + 1}`));
const bySeq = (seq: number) => all[seq - 1]!;

/** What the server holds now (tests move it on). */
let stored: Message[];
/** Seqs asked for with `after=`, in order. */
let afters: number[];
let inFlight: number;
let mostInFlight: number;
/** While set, answers wait for it (the fetch stays in flight). */
let gate: Promise<void> | null;
let failNext: StubReply | null;
let filler: GapFiller;

beforeEach(() => {
  vi.useFakeTimers();
  stored = all.slice(0, 14);
  afters = [];
  inFlight = 0;
  mostInFlight = 0;
  gate = null;
  failNext = null;
  stubNetwork(async (req) => {
    const url = new URL(req.url, 'http://parley.test');
    const after = Number(url.searchParams.get('after'));
    afters.push(after);
    // The answer is what the server held when the request came.
    const messages = stored.filter((m) => m.seq > after);
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    try {
      if (gate) await gate;
    } finally {
      inFlight -= 1;
    }
    if (failNext) {
      const reply = failNext;
      failNext = null;
      return reply;
    }
    return { status: 200, body: { messages, hasMoreBefore: true, hasMoreAfter: false } };
  });
  useChatsStore.getState().setAll([chat(C, { lastSeq: 10 })]);
  updateChatMessages(C, (cm) =>
    withPage(cm, { messages: all.slice(0, 10), hasMoreBefore: false, hasMoreAfter: false }, 'replace'),
  );
  filler = createGapFiller({
    fetchAfter: fetchGap,
    isOpen: (chatId, gap) => isGapOpen(useMessagesStore.getState().byChat[chatId], gap),
  });
});

afterEach(() => {
  filler.stop();
  useChatsStore.getState().clear();
  useMessagesStore.getState().clear();
  vi.useRealTimers();
});

function live(seq: number): void {
  applyEvent({ type: 'message:new', data: { message: bySeq(seq) } }, ME, { fetchGap: filler.report });
}

function seqs(): number[] {
  const cm = useMessagesStore.getState().byChat[C];
  return cm ? cm.order.map((mid) => cm.byId[mid]!.seq) : [];
}

/** Lets the fetch in flight finish (its answer waits on the gate). */
function holdAnswers(): () => void {
  let release = () => {};
  gate = new Promise((resolve) => (release = resolve));
  return () => {
    gate = null;
    release();
  };
}

describe('seq gap filler', () => {
  it('fetches what is still missing after the grace time, after the last contiguous seq, and merges it once', async () => {
    live(12); // 11 is missing
    expect(seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]);
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS - 1);
    expect(afters).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(seqs()).toHaveLength(14), WAIT);
    expect(afters).toEqual([10]);
    expect(seqs()).toEqual(all.slice(0, 14).map((m) => m.seq));

    // The live events the page already brought are duplicates now: still one copy each.
    live(13);
    live(11);
    expect(seqs()).toEqual(all.slice(0, 14).map((m) => m.seq));
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS * 4);
    expect(afters).toEqual([10]);
  });

  it('never fetches a gap the late message fills by itself', async () => {
    live(12);
    live(11); // late, out of order, within the grace time
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS * 4);
    expect(afters).toEqual([]);
    expect(seqs()).toEqual(all.slice(0, 12).map((m) => m.seq));
  });

  it('makes one fetch for a burst of out-of-order messages, and none while one is in flight', async () => {
    live(12);
    live(14);
    live(13);
    const release = holdAnswers();
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS);
    expect(afters).toEqual([10]); // the burst joined into one gap: 11 is all that is missing

    // While it runs, 16 arrives (15 just committed): that gap waits for the fetch to end.
    stored = all.slice(0, 16);
    live(16);
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS * 4);
    expect(afters).toEqual([10]);

    // The answer predates 15, so the waiting gap is still open: one more fetch, after 14.
    release();
    await vi.waitFor(() => expect(seqs()).toContain(11), WAIT);
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS);
    await vi.waitFor(() => expect(seqs()).toContain(15), WAIT);
    expect(afters).toEqual([10, 14]);
    expect(mostInFlight).toBe(1);
    expect(seqs()).toEqual(all.slice(0, 16).map((m) => m.seq));
  });

  it('skips the next fetch when the one in flight already brought what a later gap missed', async () => {
    live(12);
    const release = holdAnswers();
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS);
    live(14); // 13 is in the answer on its way (the server held up to 14 when asked)
    release();
    await vi.waitFor(() => expect(seqs()).toContain(13), WAIT);
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS * 4);
    expect(afters).toEqual([10]);
    expect(seqs()).toEqual(all.slice(0, 14).map((m) => m.seq));
  });

  it('tries a failed fetch again later', async () => {
    failNext = errorReply(503, 'SERVICE_UNAVAILABLE', 'The server is busy. Try again in a moment.', {
      retryAfterMs: 1000,
    });
    live(12);
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS);
    expect(afters).toEqual([10]);
    expect(seqs()).not.toContain(11);

    await vi.advanceTimersByTimeAsync(GAP_RETRY_MS);
    await vi.waitFor(() => expect(seqs()).toContain(11), WAIT);
    expect(afters).toEqual([10, 10]);
  });

  it('fetches nothing once stopped (signed out)', async () => {
    live(12);
    filler.stop();
    await vi.advanceTimersByTimeAsync(GAP_GRACE_MS * 4);
    expect(afters).toEqual([]);
  });
});
