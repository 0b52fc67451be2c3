/**
 * Disappearing messages: a sweep erases every message whose time has come (the rows go,
 * with their reactions, mentions and hides; a reply keeps its own text, without the quote) and tells the
 * chat's members, whose clients drop them too. It runs on a timer and uses the app clock,
 * so tests move time instead of sleeping.
 */
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';

export interface Expirer {
  /** Erases what is due now; returns how many messages went. */
  sweep(): Promise<number>;
  close(): void;
}

const BATCH = 1000;

export function createExpirer(ctx: AppContext, intervalMs: number): Expirer {
  let running: Promise<number> | null = null;

  async function sweepOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const due = await ctx.db.prisma.message.findMany({
        where: { expiresAt: { lte: ctx.now() } },
        select: { id: true, chatId: true },
        orderBy: { expiresAt: 'asc' },
        take: BATCH,
      });
      if (due.length === 0) return total;
      const byChat = new Map<string, string[]>();
      for (const m of due) byChat.set(m.chatId, [...(byChat.get(m.chatId) ?? []), m.id]);
      for (const [chatId, messageIds] of byChat) {
        await inTransaction(ctx, async (tx, emit) => {
          await tx.message.deleteMany({ where: { id: { in: messageIds } } });
          emit.toChat(chatId, { type: 'message:expired', data: { chatId, messageIds } });
        });
      }
      total += due.length;
      if (due.length < BATCH) return total;
    }
  }

  const sweep = () => {
    // One sweep at a time; a call during a sweep waits for it and sweeps again.
    const next = (running ?? Promise.resolve(0)).then(sweepOnce, sweepOnce);
    running = next;
    return next;
  };
  const timer = setInterval(() => void sweep().catch(() => undefined), intervalMs);
  timer.unref();
  return {
    sweep,
    close: () => clearInterval(timer),
  };
}
