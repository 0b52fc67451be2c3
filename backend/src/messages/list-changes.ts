/** Messages changed since a chat version (edits, deletes, reactions), for re-sync. */
import type { Message } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { requireMembership } from '../chats/access.js';
import { messageInclude, presentMessages } from './presenters.js';

export async function listChanges(
  ctx: AppContext,
  userId: string,
  chatId: string,
  query: { sinceVersion: number; limit: number },
): Promise<{ messages: Message[]; version: number; hasMore: boolean }> {
  const db = ctx.db.prisma;
  const me = await requireMembership(db, chatId, userId);
  const { sinceVersion } = query;
  const rows = await db.message.findMany({
    where: {
      chatId,
      changedInVersion: { gt: sinceVersion },
      seq: { gt: me.clearedSeq },
      hides: { none: { userId } },
    },
    orderBy: { changedInVersion: 'asc' },
    take: query.limit + 1,
    include: messageInclude,
  });
  const page = rows.slice(0, query.limit);
  const hasMore = rows.length > query.limit;
  return {
    messages: await presentMessages(db, page),
    version: hasMore ? page.at(-1)!.changedInVersion : Math.max(me.chat.version, sinceVersion),
    hasMore,
  };
}
