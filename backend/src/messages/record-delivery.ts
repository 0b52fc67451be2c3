/**
 * Delivery receipts: when a member's device has a message (it acknowledged the frame with
 * sync:ack, see realtime/connection.ts, or fetched a page over REST), their
 * lastDeliveredSeq moves up.
 *
 * Receipts are coalesced: hand-offs wait up to `flushMs`, then one statement moves every
 * pending position, and each chat gets ONE message:delivered event listing every member
 * whose position moved, sent to the senders of what was delivered (they are the ones
 * whose ticks change). Under load that is a few events per chat per second whatever the
 * traffic, instead of one per message and recipient.
 *
 * Receipts are positions that only grow, so they do not go through the outbox: an event
 * lost in a crash is superseded by the next one, and a re-sync reads the positions from
 * the database. The database write is what makes "delivered" true.
 */
import type { AppContext } from '../app-context.js';

export interface DeliveryRecorder {
  /** `userId`'s device has the chat's messages up to `seq`, sent by `senderIds`. */
  record(chatId: string, userId: string, seq: number, senderIds?: Iterable<string>): void;
  /** Writes what is pending now (shutdown, tests). */
  flush(): Promise<void>;
}

/** Rows per statement. */
const BATCH = 2000;

interface Pending {
  seq: number;
  senders: Set<string>;
}

const MOVE_POSITIONS = {
  // Delivered positions live in chat_deliveries, which only receipts write: sends and reads
  // write chat_members, so neither ever waits on the other's row locks. Members only (the
  // foreign key; someone removed meanwhile is skipped), forward only, ahead of the read
  // position only (read implies delivered). Rows in key order, so two nodes never deadlock.
  // Planned on every run (no name): it touches many rows, and the best plan depends on the
  // size of the tables now.
  text: `INSERT INTO chat_deliveries AS d (chat_id, user_id, last_delivered_seq)
    SELECT m.chat_id, m.user_id, v.seq
    FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS v(chat_id, user_id, seq)
    JOIN chat_members m ON m.chat_id = v.chat_id AND m.user_id = v.user_id AND m.last_read_seq < v.seq
    ORDER BY m.chat_id, m.user_id
    ON CONFLICT (chat_id, user_id) DO UPDATE SET last_delivered_seq = EXCLUDED.last_delivered_seq
      WHERE d.last_delivered_seq < EXCLUDED.last_delivered_seq
    RETURNING d.chat_id::text AS chat_id, d.user_id::text AS user_id, d.last_delivered_seq AS seq`,
};

export function createDeliveryRecorder(ctx: AppContext, flushMs: number): DeliveryRecorder {
  /** chatId → userId → what is pending */
  let pending = new Map<string, Map<string, Pending>>();
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function write(batch: Map<string, Map<string, Pending>>) {
    const chatIds: string[] = [];
    const userIds: string[] = [];
    const seqs: number[] = [];
    for (const [chatId, members] of batch) {
      for (const [userId, p] of members) {
        chatIds.push(chatId);
        userIds.push(userId);
        seqs.push(p.seq);
      }
    }
    for (let i = 0; i < chatIds.length; i += BATCH) {
      const moved = await ctx.db.sql<{ chat_id: string; user_id: string; seq: number }>(MOVE_POSITIONS, [
        chatIds.slice(i, i + BATCH),
        userIds.slice(i, i + BATCH),
        seqs.slice(i, i + BATCH),
      ]);
      const byChat = new Map<string, { userId: string; upToSeq: number }[]>();
      for (const r of moved) {
        const list = byChat.get(r.chat_id) ?? [];
        list.push({ userId: r.user_id, upToSeq: r.seq });
        byChat.set(r.chat_id, list);
      }
      for (const [chatId, receipts] of byChat) {
        const audience = new Set<string>();
        for (const { userId } of receipts) {
          for (const sender of batch.get(chatId)?.get(userId)?.senders ?? []) {
            if (sender !== userId) audience.add(sender);
          }
        }
        if (audience.size === 0) continue;
        // 300 members at most per chat, so one event always fits the contract.
        await ctx.events.toUsers([...audience], { type: 'message:delivered', data: { chatId, receipts } });
      }
    }
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = new Map();
    size = 0;
    if (batch.size === 0) return running;
    running = running.then(async () => {
      try {
        await write(batch);
      } catch {
        // The database is away: the next hand-off or the read position carries the receipt.
      }
    });
    return running;
  }

  function entry(chatId: string, userId: string): Pending {
    let members = pending.get(chatId);
    if (!members) {
      members = new Map();
      pending.set(chatId, members);
    }
    let p = members.get(userId);
    if (!p) {
      p = { seq: 0, senders: new Set() };
      members.set(userId, p);
      size += 1;
    }
    return p;
  }

  function schedule() {
    if (size >= BATCH) void flush();
    else if (!timer) {
      timer = setTimeout(() => void flush(), flushMs);
      timer.unref();
    }
  }

  return {
    record(chatId, userId, seq, senderIds = []) {
      const p = entry(chatId, userId);
      p.seq = Math.max(p.seq, seq);
      for (const s of senderIds) p.senders.add(s);
      schedule();
    },
    flush,
  };
}
