/**
 * Pages of a chat's messages by seq: the newest, before or after a seq, or around one
 * message (deep links). Messages the member cleared or deleted for themselves are left out.
 */
import type { MessagePage } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { requireMembership } from '../chats/access.js';
import type { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { messageInclude, presentMessages, type MessageRow } from './presenters.js';

export interface PageQuery {
  before?: number | undefined;
  after?: number | undefined;
  around?: string | undefined;
  limit: number;
}

export async function listMessages(
  ctx: AppContext,
  userId: string,
  chatId: string,
  query: PageQuery,
  /** Called with the newest seq handed out and the senders of what it newly delivers, for receipts. */
  onDelivered?: (upToSeq: number, senderIds: string[]) => void,
): Promise<MessagePage> {
  const db = ctx.db.prisma;
  const me = await requireMembership(db, chatId, userId);
  const visible: Prisma.MessageWhereInput = {
    chatId,
    seq: { gt: me.clearedSeq },
    hides: { none: { userId } },
  };
  const older = (below: number, take: number) =>
    db.message.findMany({
      where: { ...visible, seq: { gt: me.clearedSeq, lt: below } },
      orderBy: { seq: 'desc' },
      take,
      include: messageInclude,
    });
  const newer = (from: number, take: number) =>
    db.message.findMany({
      where: { ...visible, seq: { gt: Math.max(from - 1, me.clearedSeq) } },
      orderBy: { seq: 'asc' },
      take,
      include: messageInclude,
    });

  const { limit } = query;
  let rows: MessageRow[];
  let hasMoreBefore: boolean;
  let hasMoreAfter: boolean;
  if (query.around !== undefined) {
    const target = await db.message.findFirst({
      where: { ...visible, id: query.around },
      select: { seq: true },
    });
    if (!target) throw new AppError('NOT_FOUND');
    const half = Math.floor((limit - 1) / 2);
    const before = await older(target.seq, half + 1);
    const after = await newer(target.seq, limit - half + 1);
    hasMoreBefore = before.length > half;
    hasMoreAfter = after.length > limit - half;
    rows = [...before.slice(0, half).reverse(), ...after.slice(0, limit - half)];
  } else if (query.after !== undefined) {
    const page = await newer(query.after + 1, limit + 1);
    hasMoreAfter = page.length > limit;
    rows = page.slice(0, limit);
    hasMoreBefore = (rows[0]?.seq ?? query.after + 1) > me.clearedSeq + 1;
  } else {
    const below = query.before ?? me.chat.lastSeq + 1;
    const page = await older(below, limit + 1);
    hasMoreBefore = page.length > limit;
    rows = page.slice(0, limit).reverse();
    hasMoreAfter = below <= me.chat.lastSeq;
  }
  const newest = rows.at(-1)?.seq ?? 0;
  // Read implies delivered; the receipt statement skips what the delivered position covers.
  if (onDelivered && newest > me.lastReadSeq) {
    const senders = rows.flatMap((r) =>
      r.seq > me.lastReadSeq && r.senderId && r.senderId !== userId ? [r.senderId] : [],
    );
    onDelivered(newest, senders);
  }
  return { messages: await presentMessages(db, rows), hasMoreBefore, hasMoreAfter };
}
