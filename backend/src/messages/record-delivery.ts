/**
 * Delivery receipts: when a member's device is handed a message (a frame written to its
 * socket, or a page fetched over REST), their lastDeliveredSeq moves up. Hand-offs are
 * coalesced for a short moment and written in one statement per flush, so a burst of
 * messages into busy chats is a handful of updates and events, not one per message and
 * recipient.
 */
import type { AppContext } from '../app-context.js';
import { Prisma } from '../infra/db/generated/client.js';

export interface DeliveryRecorder {
  record(chatId: string, userId: string, seq: number): void;
  /** Writes what is pending now (shutdown, tests). */
  flush(): Promise<void>;
}

const COALESCE_MS = 50;
/** Rows per UPDATE statement. */
const BATCH = 500;

interface Pending {
  chatId: string;
  userId: string;
  seq: number;
}

export function createDeliveryRecorder(ctx: AppContext): DeliveryRecorder {
  let pending = new Map<string, Pending>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function write(rows: Pending[]) {
    const moved = await ctx.db.prisma.$queryRaw<{ chat_id: string; user_id: string; seq: number }[]>`
      UPDATE chat_members AS m SET last_delivered_seq = v.seq
      FROM (VALUES ${Prisma.join(rows.map((r) => Prisma.sql`(${r.chatId}::uuid, ${r.userId}::uuid, ${r.seq}::int)`))})
        AS v(chat_id, user_id, seq)
      WHERE m.chat_id = v.chat_id AND m.user_id = v.user_id AND m.last_delivered_seq < v.seq
      RETURNING m.chat_id::text AS chat_id, m.user_id::text AS user_id, m.last_delivered_seq AS seq`;
    if (moved.length === 0) return;
    const chatIds = [...new Set(moved.map((r) => r.chat_id))];
    const members = await ctx.db.prisma.chatMember.findMany({
      where: { chatId: { in: chatIds } },
      select: { chatId: true, userId: true },
    });
    const byChat = new Map<string, string[]>();
    for (const m of members) byChat.set(m.chatId, [...(byChat.get(m.chatId) ?? []), m.userId]);
    for (const r of moved) {
      await ctx.events.toUsers(byChat.get(r.chat_id) ?? [], {
        type: 'message:delivered',
        data: { chatId: r.chat_id, userId: r.user_id, upToSeq: r.seq },
      });
    }
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = [...pending.values()];
    pending = new Map();
    running = running.then(async () => {
      for (let i = 0; i < batch.length; i += BATCH) {
        try {
          await write(batch.slice(i, i + BATCH));
        } catch {
          // A receipt is advisory; the next hand-off or the read position carries it.
        }
      }
    });
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
