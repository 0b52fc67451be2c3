/**
 * Catching up over REST: the seq window a device keeps per chat, gap fills (after a grace
 * period, one read per device and chat at a time) and re-syncs, against a fake reader that
 * serves a chat's messages by seq.
 */
import type { Message } from '@parley/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { Recovery, SeqWindow, type ChatReader } from './recovery.js';

describe('SeqWindow', () => {
  it('keeps the highest seq up to which the device has everything, and sees gaps', () => {
    const w = new SeqWindow(2);
    w.observe(1);
    expect(w.contiguous).toBe(2);
    w.observe(3);
    expect([w.contiguous, w.hasGap]).toEqual([3, false]);
    w.observe(6);
    w.observe(5);
    expect([w.contiguous, w.hasGap, w.highest]).toEqual([3, true, 6]);
    w.observe(4);
    expect([w.contiguous, w.hasGap, w.highest]).toEqual([6, false, 6]);
    w.observe(6);
    expect(w.contiguous).toBe(6);
  });
});

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Chats served by seq; `fail` makes the next reads throw. */
class FakeReader implements ChatReader {
  readonly calls: { user: number; chatId: string; after: number }[] = [];
  fail = 0;
  constructor(readonly chats: Map<string, number>) {}

  async readAfter(
    user: number,
    chatId: string,
    afterSeq: number,
    node: number,
    onPage: (messages: Message[]) => void,
  ): Promise<number> {
    this.calls.push({ user, chatId, after: afterSeq });
    await wait(1);
    if (this.fail > 0) {
      this.fail -= 1;
      throw new Error('ECONNREFUSED');
    }
    const last = this.chats.get(chatId) ?? 0;
    const seqs = Array.from({ length: Math.max(0, last - afterSeq) }, (_, i) => afterSeq + 1 + i);
    // Two pages, to walk them like the real reader does.
    const half = Math.ceil(seqs.length / 2);
    for (const page of [seqs.slice(0, half), seqs.slice(half)])
      if (page.length) onPage(page.map(msg(chatId)));
    return node;
  }
}

const msg =
  (chatId: string) =>
  (seq: number): Message =>
    ({ id: `${chatId}-${seq}`, chatId, seq, body: `m${seq}` }) as Message;

let recovery: Recovery | undefined;
afterEach(() => recovery?.stop());

function setup(chats: Record<string, number>, graceMs = 30) {
  const reader = new FakeReader(new Map(Object.entries(chats)));
  const delivered: { device: number; id: string }[] = [];
  recovery = new Recovery(
    reader,
    {
      // Device 0 and 1 belong to user 7, who is in chats A and B, both starting at seq 1.
      chatsOf: () => ['A', 'B'],
      baseSeq: () => 1,
      userOf: () => 7,
      nodeOf: () => 0,
      deliver: (device, message) => {
        delivered.push({ device, id: message.id });
      },
    },
    { graceMs, retryMs: 10, maxFailures: 3, random: () => 0 },
  );
  const until = async (done: () => boolean, ms = 5_000) => {
    const end = Date.now() + ms;
    while (!done() && Date.now() < end) await wait(5);
    return done();
  };
  return { reader, delivered, recovery, until };
}

describe('gap fill', () => {
  it('reads what is still missing after the grace period, from the last contiguous seq', async () => {
    const { reader, delivered, recovery, until } = setup({ A: 5 });
    recovery.observe(0, 'A', 2);
    recovery.observe(0, 'A', 5); // 3 and 4 skipped
    expect(recovery.busy).toBe(true);
    expect(reader.calls).toEqual([]);
    expect(await until(() => !recovery.busy)).toBe(true);
    expect(reader.calls).toEqual([{ user: 7, chatId: 'A', after: 2 }]);
    expect(delivered.map((d) => d.id)).toEqual(['A-3', 'A-4', 'A-5']);
    expect(recovery.window(0, 'A')).toMatchObject({ contiguous: 5, hasGap: false });
    expect(recovery.counts).toMatchObject({ gapFills: 1, restMessages: 3, restFailures: 0 });
  });

  it('does not read a gap that fills by itself within the grace period', async () => {
    const { reader, recovery, until } = setup({ A: 4 }, 100);
    recovery.observe(0, 'A', 2);
    recovery.observe(0, 'A', 4);
    recovery.observe(0, 'A', 3); // came late, by itself
    expect(await until(() => !recovery.busy)).toBe(true);
    expect(reader.calls).toEqual([]);
    expect(recovery.counts.gapFills).toBe(0);
  });

  it('ignores chats that are not the device user’s', () => {
    const { recovery } = setup({});
    recovery.observe(0, 'elsewhere', 9);
    expect(recovery.busy).toBe(false);
    expect(recovery.window(0, 'elsewhere')).toBeUndefined();
  });

  it('tries a failed read again later, and gives up after a bounded number of failures', async () => {
    const { reader, delivered, recovery, until } = setup({ A: 4 });
    reader.fail = 2;
    recovery.observe(1, 'A', 4);
    expect(await until(() => !recovery.busy)).toBe(true);
    expect(reader.calls).toHaveLength(3);
    expect(delivered.map((d) => d.id)).toEqual(['A-2', 'A-3', 'A-4']);
    expect(recovery.counts).toMatchObject({ restFailures: 2, abandoned: 0 });

    reader.fail = 100;
    recovery.observe(1, 'A', 6);
    expect(await until(() => !recovery.busy)).toBe(true);
    // The first read and three more, then it is given up.
    expect(reader.calls).toHaveLength(3 + 4);
    expect(recovery.counts.abandoned).toBe(1);
  });
});

describe('re-sync', () => {
  it('reads every chat of the device’s user after what the device has, without waiting', async () => {
    const { reader, delivered, recovery, until } = setup({ A: 3, B: 2 }, 10_000);
    recovery.observe(0, 'A', 2);
    recovery.resync(0);
    expect(await until(() => !recovery.busy, 2_000)).toBe(true);
    expect(reader.calls).toEqual([
      { user: 7, chatId: 'A', after: 2 },
      { user: 7, chatId: 'B', after: 1 },
    ]);
    expect(delivered.map((d) => d.id)).toEqual(['A-3', 'B-2']);
    expect(recovery.counts).toMatchObject({ resyncs: 1, gapFills: 0 });
  });

  it('runs again when asked while a read of the same chat is going on', async () => {
    const { reader, recovery, until } = setup({ A: 3, B: 1 });
    recovery.resync(0);
    await until(() => reader.calls.length >= 1);
    recovery.resync(0);
    expect(await until(() => !recovery.busy)).toBe(true);
    expect(reader.calls.filter((c) => c.chatId === 'A')).toHaveLength(2);
    expect(recovery.counts.resyncs).toBe(2);
  });

  it('reads nothing more once stopped', async () => {
    const { reader, recovery } = setup({ A: 3 });
    recovery.observe(0, 'A', 3);
    recovery.stop();
    recovery.resync(0);
    await wait(60);
    expect(reader.calls).toEqual([]);
    expect(recovery.busy).toBe(false);
  });
});
