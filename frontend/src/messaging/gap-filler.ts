/**
 * Fetching the seqs a chat's live messages skipped. Delivery is at least once and, across
 * server nodes or after a lost database connection, not always in order: a message:new can
 * arrive before the ones it follows. A gap first waits a moment, because the missing
 * messages usually come by themselves, just late (Telegram's clients wait the same way
 * before asking for the difference); what is still missing then is fetched over REST. One
 * fetch per chat at a time: gaps found while one runs join the next, which runs only if
 * something is still missing.
 */
import type { SeqGap } from './messages-store';

/** How long a gap may fill itself before it is fetched. */
export const GAP_GRACE_MS = 500;
/** A fetch that failed (offline, server busy) is tried again after this long. */
export const GAP_RETRY_MS = 5_000;

export interface GapFillerOptions {
  /** Fetch every message after afterSeq into the chat's window. */
  fetchAfter: (chatId: string, afterSeq: number) => Promise<void>;
  /** Some seq of the gap is still missing from a window at the live end. */
  isOpen: (chatId: string, gap: SeqGap) => boolean;
  graceMs?: number;
  retryMs?: number;
}

export interface GapFiller {
  /** A live message skipped these seqs of the chat. */
  report: (chatId: string, gap: SeqGap) => void;
  /** Forget every gap and run no more fetches (sign-out). */
  stop: () => void;
}

/** One gap covering both: everything either of them misses. */
function joinGaps(a: SeqGap | undefined, b: SeqGap): SeqGap {
  if (!a) return b;
  return { afterSeq: Math.min(a.afterSeq, b.afterSeq), beforeSeq: Math.max(a.beforeSeq, b.beforeSeq) };
}

export function createGapFiller(options: GapFillerOptions): GapFiller {
  const graceMs = options.graceMs ?? GAP_GRACE_MS;
  const retryMs = options.retryMs ?? GAP_RETRY_MS;
  /** Gaps waiting for their fetch, per chat. */
  const waiting = new Map<string, SeqGap>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const fetching = new Set<string>();
  let stopped = false;

  function schedule(chatId: string, delayMs: number): void {
    if (stopped || timers.has(chatId) || fetching.has(chatId)) return;
    const timer = setTimeout(() => {
      timers.delete(chatId);
      void fill(chatId);
    }, delayMs);
    timers.set(chatId, timer);
  }

  async function fill(chatId: string): Promise<void> {
    const gap = waiting.get(chatId);
    waiting.delete(chatId);
    if (!gap || !options.isOpen(chatId, gap)) return;
    fetching.add(chatId);
    let failed = false;
    try {
      await options.fetchAfter(chatId, gap.afterSeq);
    } catch {
      failed = true;
    }
    fetching.delete(chatId);
    if (stopped) return;
    if (failed) waiting.set(chatId, joinGaps(waiting.get(chatId), gap));
    if (waiting.has(chatId)) schedule(chatId, failed ? retryMs : graceMs);
  }

  return {
    report(chatId, gap) {
      if (stopped) return;
      waiting.set(chatId, joinGaps(waiting.get(chatId), gap));
      schedule(chatId, graceMs);
    },
    stop() {
      stopped = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      waiting.clear();
    },
  };
}
