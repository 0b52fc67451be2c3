/**
 * Delivery receipts: when a member's device is handed a message (a frame written to its
 * socket, or a page fetched over REST), their lastDeliveredSeq moves up. Hand-offs are
 * coalesced per member and chat for a short moment, so a burst of 100 messages is one
 * update and one message:delivered event, not 100.
 */
import type { AppContext } from '../app-context.js';
import { publishToChat } from '../chats/access.js';

export interface DeliveryRecorder {
  record(chatId: string, userId: string, seq: number): void;
  /** Writes what is pending now (shutdown, tests). */
  flush(): Promise<void>;
}

const COALESCE_MS = 50;

export function createDeliveryRecorder(ctx: AppContext): DeliveryRecorder {
  let pending = new Map<string, { chatId: string; userId: string; seq: number }>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function write(batch: typeof pending) {
    for (const { chatId, userId, seq } of batch.values()) {
      try {
        const rows = await ctx.db.prisma.$queryRaw<{ last_delivered_seq: number }[]>`
          UPDATE chat_members SET last_delivered_seq = ${seq}
          WHERE chat_id = ${chatId}::uuid AND user_id = ${userId}::uuid AND last_delivered_seq < ${seq}
          RETURNING last_delivered_seq`;
        if (rows[0]) {
          await publishToChat(ctx, chatId, {
            type: 'message:delivered',
            data: { chatId, userId, upToSeq: seq },
          });
        }
      } catch {
        // A receipt is advisory; the next hand-off or the read position will carry it.
      }
    }
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = new Map();
    running = running.then(() => (batch.size ? write(batch) : undefined));
    return running;
  }

  return {
    record(chatId, userId, seq) {
      const key = `${chatId}:${userId}`;
      const current = pending.get(key);
      if (current && current.seq >= seq) return;
      pending.set(key, { chatId, userId, seq });
      timer ??= setTimeout(() => void flush(), COALESCE_MS);
    },
    flush,
  };
}
