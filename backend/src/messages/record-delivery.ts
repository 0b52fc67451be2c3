/**
 * Delivery receipts: when a member's device is handed a message (a frame written to its
 * socket, or a page fetched over REST), their lastDeliveredSeq moves up. Hand-offs are
 * coalesced for a short moment and written in one statement per flush, so a burst of
 * messages into busy chats is a handful of updates and events, not one per message and
 * recipient. The event goes to whoever can use it: both people of a direct chat; in a
 * group, the member and the senders of what was delivered.
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
    // `before` is the same row as `m` read before the update: the old position.
    const moved = await ctx.db.prisma.$queryRaw<
      { chat_id: string; user_id: string; seq: number; prev: number; kind: string }[]
    >`
      UPDATE chat_members AS m SET last_delivered_seq = v.seq
      FROM (VALUES ${Prisma.join(rows.map((r) => Prisma.sql`(${r.chatId}::uuid, ${r.userId}::uuid, ${r.seq}::int)`))})
        AS v(chat_id, user_id, seq),
        chat_members AS before, chats AS c
      WHERE m.chat_id = v.chat_id AND m.user_id = v.user_id AND m.last_delivered_seq < v.seq
        AND before.chat_id = m.chat_id AND before.user_id = m.user_id AND c.id = m.chat_id
      RETURNING m.chat_id::text AS chat_id, m.user_id::text AS user_id, m.last_delivered_seq AS seq,
        before.last_delivered_seq AS prev, c.kind`;
    if (moved.length === 0) return;

    // Who hears of it: in a direct chat both people; in a group the member's own devices and
    // the senders of the messages just delivered (a group of 300 should not hear every
    // member's every receipt).
    const direct = moved.filter((r) => r.kind === 'direct');
    const group = moved.filter((r) => r.kind !== 'direct');
    const audience = new Map<string, Set<string>>();
    const key = (r: { chat_id: string; user_id: string }) => `${r.chat_id}:${r.user_id}`;
    if (direct.length) {
      const members = await ctx.db.prisma.chatMember.findMany({
        where: { chatId: { in: [...new Set(direct.map((r) => r.chat_id))] } },
        select: { chatId: true, userId: true },
      });
      for (const r of direct) {
        audience.set(key(r), new Set(members.filter((m) => m.chatId === r.chat_id).map((m) => m.userId)));
      }
    }
    if (group.length) {
      const senders = await ctx.db.prisma.$queryRaw<
        { chat_id: string; user_id: string; sender_id: string }[]
      >`
        SELECT DISTINCT r.chat_id::text AS chat_id, r.user_id::text AS user_id, msg.sender_id::text AS sender_id
        FROM (VALUES ${Prisma.join(
          group.map(
            (r) => Prisma.sql`(${r.chat_id}::uuid, ${r.user_id}::uuid, ${r.prev}::int, ${r.seq}::int)`,
          ),
        )}) AS r(chat_id, user_id, lo, hi)
        JOIN messages msg ON msg.chat_id = r.chat_id AND msg.seq > r.lo AND msg.seq <= r.hi
        WHERE msg.sender_id IS NOT NULL`;
      for (const r of group) audience.set(key(r), new Set([r.user_id]));
      for (const s of senders) audience.get(key(s))?.add(s.sender_id);
    }
    for (const r of moved) {
      await ctx.events.toUsers([...(audience.get(key(r)) ?? [])], {
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
