/**
 * Disappearing messages: a sweep erases every message whose time has come (the rows go,
 * with their reactions, mentions and hides; a reply keeps its own text, without the quote) and tells the
 * chat's members, whose clients drop them too. It runs on a timer and uses the app clock,
 * so tests move time instead of sleeping.
 *
 * Every node runs the sweep; each message is erased, and announced, by exactly one: the
 * delete claims its rows with FOR UPDATE SKIP LOCKED and announces only the ids it
 * returned, so a row another node holds or has already erased is not announced twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { oneAtATime } from '../infra/one-at-a-time.js';

export interface Expirer {
  /** Erases what is due now; returns how many messages went. */
  sweep(): Promise<number>;
  close(): void;
}

const BATCH = 1000;
/** How often, and after how long, a sweep looks again at due rows it found held. */
const HELD_RETRIES = 5;
const HELD_RETRY_MS = 20;

export function createExpirer(ctx: AppContext, intervalMs: number): Expirer {
  async function sweepOnce(): Promise<number> {
    let total = 0;
    for (let held = 0; ;) {
      const due = await ctx.db.prisma.message.findMany({
        where: { expiresAt: { lte: ctx.now() } },
        select: { id: true, chatId: true },
        orderBy: { expiresAt: 'asc' },
        take: BATCH,
      });
      if (due.length === 0) return total;
      const byChat = new Map<string, string[]>();
      for (const m of due) byChat.set(m.chatId, [...(byChat.get(m.chatId) ?? []), m.id]);
      let erasedHere = 0;
      for (const [chatId, messageIds] of byChat) {
        erasedHere += await inTransaction(ctx, async (tx, emit) => {
          const erased = await tx.$queryRawUnsafe<{ id: string }[]>(ERASE_DUE, messageIds, ctx.now());
          if (erased.length === 0) return 0; // another node's sweep has them
          const ids = erased.map((row) => row.id);
          emit.toChat(chatId, { type: 'message:expired', data: { chatId, messageIds: ids } });
          return ids.length;
        });
      }
      total += erasedHere;
      if (erasedHere === due.length) {
        if (due.length < BATCH) return total; // a short batch was all there was
        continue;
      }
      // Some rows were held: by another node's sweep (its to finish: they are gone when it
      // commits), or for a moment by someone else, such as the search index job, whose
      // foreign key check on a message it indexes holds a lock the erase skips. Look again
      // shortly, a few times, so that what is due now goes in this sweep.
      if (++held > HELD_RETRIES) return total;
      await sleep(HELD_RETRY_MS * held);
    }
  }

  // One sweep at a time; a call during a sweep waits for it and sweeps again.
  const sweep = oneAtATime(sweepOnce);
  const timer = setInterval(() => void sweep().catch(() => undefined), intervalMs);
  timer.unref();
  return {
    sweep,
    close: () => clearInterval(timer),
  };
}

/** Erases the due ones among these messages that no other sweep holds; returns their ids. */
const ERASE_DUE = `DELETE FROM messages WHERE id IN (
    SELECT id FROM messages WHERE id = ANY($1::uuid[]) AND expires_at <= $2
    FOR UPDATE SKIP LOCKED)
  RETURNING id::text AS id`;
