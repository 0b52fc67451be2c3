/**
 * What a client fetches over REST because the socket did not bring it, as the web app does
 * (specs/protocol.md, "Re-sync after sync:resync", and its gap filler):
 *
 * - **Re-sync**: after a `sync:resync` event, or a resume that failed, every chat of the
 *   device's user is read after the last seq the device has (`GET
 *   /api/chats/:id/messages?after=<seq>`, page by page until `hasMoreAfter` is false).
 * - **Gap fill**: a message past a gap in a chat's seqs (delivery across nodes is not in
 *   order) waits a moment for the missing ones to come by themselves, then what is still
 *   missing is read the same way. One read per device and chat at a time.
 *
 * Each device keeps, per chat, the highest seq up to which it has everything (`SeqWindow`).
 * Messages read here go to the ledger as received "over REST", with their latency as of
 * the moment they were read.
 */
import { MESSAGE_PAGE_MAX, messagePageSchema, type Message, type MessagePage } from '@parley/contracts';
import { ApiError, Limiter, type ApiClient } from './api.js';
import { backoffDelay } from './backoff.js';
import type { TokenBook } from './session.js';

/** Seqs of one chat as one device has them: everything up to `contiguous`, and some above. */
export class SeqWindow {
  private readonly above = new Set<number>();

  constructor(public contiguous: number) {}

  /** The device has the message with this seq. */
  observe(seq: number): void {
    if (seq <= this.contiguous) return;
    this.above.add(seq);
    while (this.above.delete(this.contiguous + 1)) this.contiguous += 1;
  }

  /** Some seq between `contiguous` and the highest seen is missing. */
  get hasGap(): boolean {
    return this.above.size > 0;
  }

  /** The highest seq the device has. */
  get highest(): number {
    let max = this.contiguous;
    for (const s of this.above) if (s > max) max = s;
    return max;
  }
}

/** Most pages one read walks (100 messages each): a bound, far above any run's chat. */
const MAX_PAGES = 20_000;

/** What recovery needs of a reader: every message of a chat after a seq, page by page. */
export interface ChatReader {
  readAfter(
    user: number,
    chatId: string,
    afterSeq: number,
    node: number,
    onPage: (messages: Message[]) => void,
  ): Promise<number>;
}

/**
 * Reads chats over REST for a user, from the server the device uses, or the next ones when
 * it does not answer (a node that is down); a refused token is renewed once.
 */
export class MessageReader implements ChatReader {
  requests = 0;
  failures = 0;
  private readonly limiter: Limiter;

  constructor(
    private readonly apis: readonly ApiClient[],
    private readonly tokens: TokenBook,
    concurrency = 16,
  ) {
    this.limiter = new Limiter(concurrency);
  }

  /**
   * Every message of `chatId` after `afterSeq` (oldest first, page by page to `onPage`).
   * Returns the index of the server that answered last.
   */
  async readAfter(
    user: number,
    chatId: string,
    afterSeq: number,
    node: number,
    onPage: (messages: Message[]) => void,
  ): Promise<number> {
    let after = afterSeq;
    for (let n = 0; n < MAX_PAGES; n++) {
      const res = await this.page(user, chatId, after, node);
      node = res.node;
      onPage(res.page.messages);
      const last = res.page.messages.at(-1);
      if (!res.page.hasMoreAfter || !last) return node;
      after = Math.max(after, last.seq);
    }
    return node;
  }

  private async page(
    user: number,
    chatId: string,
    after: number,
    node: number,
  ): Promise<{ page: MessagePage; node: number }> {
    const path = `/api/chats/${chatId}/messages?after=${after}&limit=${MESSAGE_PAGE_MAX}`;
    let renewed = false;
    let last: unknown;
    for (let i = 0; i <= this.apis.length; i++) {
      const at = (node + i) % this.apis.length;
      const token = await this.tokens.get(user);
      try {
        this.requests += 1;
        const page = await this.limiter.run(() => this.apis[at]!.get(path, messagePageSchema, token));
        return { page, node: at };
      } catch (err) {
        this.failures += 1;
        last = err;
        if (err instanceof ApiError && err.status === 401 && !renewed) {
          renewed = true;
          await this.tokens.renew(user, token);
          i -= 1; // the same server again, with the new token
          continue;
        }
        // Anything but "not there now" (a 4xx, a 500) will not change on another node.
        if (err instanceof ApiError && err.status !== 429 && err.status !== 503) throw err;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }
}

export interface RecoveryHooks {
  /** The chats of the device's user. */
  chatsOf(device: number): readonly string[];
  /** Where a chat's seqs started before the run. */
  baseSeq(chatId: string): number;
  userOf(device: number): number;
  /** The server the device uses now (REST goes there first). */
  nodeOf(device: number): number;
  /** A message read over REST, to count (and observe). */
  deliver(device: number, message: Message, at: number): void;
}

export interface RecoveryCounts {
  /** Re-syncs started (sync:resync, or a resume that failed). */
  resyncs: number;
  /** Gap fills run (a chat's seqs had a hole that did not fill by itself in time). */
  gapFills: number;
  /** Messages read over REST, run's and others, known or new. */
  restMessages: number;
  /** Reads that failed (they are tried again, a bounded number of times). */
  restFailures: number;
  /** Reads given up after too many failures. */
  abandoned: number;
  /** Gaps a read did not close (the server's REST answer lacked seqs the socket had skipped). */
  gapsUnfilled: number;
}

interface ChatState {
  window: SeqWindow;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  /** A re-sync asked for: read even without a gap. */
  forced: boolean;
  /** Failed (or fruitless) reads in a row. */
  failures: number;
}

export interface RecoveryOptions {
  /** How long a gap may fill itself before it is read (the web app waits 500 ms). */
  graceMs: number;
  /** The first wait after a failed read; it doubles up to 5 s. */
  retryMs: number;
  /** Most failed reads in a row for one device and chat before it is given up. */
  maxFailures: number;
  random: () => number;
}

export class Recovery {
  readonly counts: RecoveryCounts = {
    resyncs: 0,
    gapFills: 0,
    restMessages: 0,
    restFailures: 0,
    abandoned: 0,
    gapsUnfilled: 0,
  };
  private readonly state = new Map<number, Map<string, ChatState>>();
  private readonly opts: RecoveryOptions;
  private running = 0;
  private waiting = 0;
  private stopped = false;

  constructor(
    private readonly reader: ChatReader,
    private readonly hooks: RecoveryHooks,
    opts: Partial<RecoveryOptions> = {},
  ) {
    this.opts = { graceMs: 500, retryMs: 1_000, maxFailures: 10, random: Math.random, ...opts };
  }

  /** Reads running or waiting to run. */
  get busy(): boolean {
    return this.running + this.waiting > 0;
  }

  /** The device's window of a chat of its user (undefined for any other chat). */
  window(device: number, chatId: string): SeqWindow | undefined {
    return this.chat(device, chatId)?.window;
  }

  private chat(device: number, chatId: string): ChatState | undefined {
    let chats = this.state.get(device);
    if (!chats) {
      chats = new Map();
      for (const id of this.hooks.chatsOf(device)) {
        chats.set(id, {
          window: new SeqWindow(this.hooks.baseSeq(id)),
          timer: undefined,
          running: false,
          forced: false,
          failures: 0,
        });
      }
      this.state.set(device, chats);
    }
    return chats.get(chatId);
  }

  /** The device has this message (a frame, an ack of its own send, a REST read). */
  observe(device: number, chatId: string, seq: number): void {
    const s = this.chat(device, chatId);
    if (!s) return;
    s.window.observe(seq);
    if (s.window.hasGap) this.schedule(device, chatId, s, this.opts.graceMs);
  }

  /** Reads every chat of the device's user after what it has. */
  resync(device: number): void {
    if (this.stopped) return;
    this.counts.resyncs += 1;
    for (const chatId of this.hooks.chatsOf(device)) {
      const s = this.chat(device, chatId)!;
      s.forced = true;
      if (s.timer) {
        clearTimeout(s.timer);
        s.timer = undefined;
        this.waiting -= 1;
      }
      this.schedule(device, chatId, s, 0);
    }
  }

  private schedule(device: number, chatId: string, s: ChatState, delayMs: number): void {
    if (this.stopped || s.timer || s.running) return;
    this.waiting += 1;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      this.waiting -= 1;
      void this.run(device, chatId, s);
    }, delayMs);
  }

  private async run(device: number, chatId: string, s: ChatState): Promise<void> {
    if (this.stopped) return;
    const forced = s.forced;
    if (!forced && !s.window.hasGap) return;
    s.forced = false;
    s.running = true;
    this.running += 1;
    if (!forced) this.counts.gapFills += 1;
    const before = s.window.contiguous;
    let failed = false;
    try {
      await this.reader.readAfter(
        this.hooks.userOf(device),
        chatId,
        s.window.contiguous,
        this.hooks.nodeOf(device),
        (messages) => {
          const at = performance.now();
          this.counts.restMessages += messages.length;
          for (const m of messages) {
            this.hooks.deliver(device, m, at);
            s.window.observe(m.seq);
          }
        },
      );
    } catch {
      failed = true;
      this.counts.restFailures += 1;
    } finally {
      s.running = false;
      this.running -= 1;
    }
    if (this.stopped) return;
    // A gap the read did not close at all: the server's REST answer lacked what the socket skipped.
    const fruitless = !failed && !forced && s.window.hasGap && s.window.contiguous === before;
    if (fruitless) this.counts.gapsUnfilled += 1;
    if (failed || fruitless) {
      s.failures += 1;
      if (s.failures > this.opts.maxFailures) {
        this.counts.abandoned += 1;
        s.failures = 0;
        return;
      }
      s.forced ||= forced;
      const wait = backoffDelay(
        s.failures - 1,
        { baseMs: this.opts.retryMs, maxMs: 5_000 },
        this.opts.random,
      );
      this.schedule(device, chatId, s, wait);
      return;
    }
    s.failures = 0;
    if (s.forced) this.schedule(device, chatId, s, 0);
    else if (s.window.hasGap) this.schedule(device, chatId, s, this.opts.graceMs);
  }

  /** No more reads: the run is ending. */
  stop(): void {
    this.stopped = true;
    for (const chats of this.state.values()) {
      for (const s of chats.values()) {
        if (s.timer) clearTimeout(s.timer);
        s.timer = undefined;
      }
    }
    this.waiting = 0;
  }
}
