/**
 * A chat's gallery: the pictures and videos, files or voice notes shared in it, newest
 * first, as far as the reader can see their messages (the same rules as the message list).
 */
import type { z } from 'zod';
import type { listChatMediaQuerySchema } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { requireMembership } from '../chats/access.js';
import type { Media as MediaRow } from '../infra/db/generated/client.js';

const KINDS: Record<string, string[]> = {
  media: ['image', 'video'],
  file: ['file'],
  voice: ['voice'],
  all: ['image', 'video', 'file', 'voice'],
};

export async function listChatMedia(
  ctx: AppContext,
  userId: string,
  chatId: string,
  query: z.infer<typeof listChatMediaQuerySchema>,
): Promise<{
  items: { row: MediaRow; seq: number | null }[];
  nextCursor: string | null;
  labels: { label: string; count: number }[];
}> {
  const membership = await requireMembership(ctx.db.prisma, chatId, userId);
  // Cursor: "<seq>.<position>" of the last item of the previous page.
  const cursor = /^(\d{1,10})\.(\d{1,2})$/.exec(query.cursor ?? '');
  const beforeSeq = cursor ? Number(cursor[1]) : 2_147_483_647;
  const beforePosition = cursor ? Number(cursor[2]) : 99;
  const rows = await ctx.db.prisma.$queryRaw<{ id: string; seq: number; position: number }[]>`
    SELECT m.id::text AS id, msg.seq, m.position
    FROM media m JOIN messages msg ON msg.id = m.message_id
    WHERE m.chat_id = ${chatId}::uuid AND m.deleted_at IS NULL AND m.kind = ANY(${KINDS[query.kind]!}::text[])
      AND msg.deleted_at IS NULL AND (msg.expires_at IS NULL OR msg.expires_at > ${ctx.now()})
      AND msg.seq > ${membership.clearedSeq}
      AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = msg.id AND h.user_id = ${userId}::uuid)
      AND (msg.seq, m.position) < (${beforeSeq}, ${beforePosition})
      AND (${query.label ?? null}::text IS NULL
        OR EXISTS (SELECT 1 FROM media_labels l WHERE l.media_id = m.id AND l.label = ${query.label ?? null}::text))
    ORDER BY msg.seq DESC, m.position DESC
    LIMIT ${query.limit + 1}`;
  // The labels of the pictures the reader can see here, for the gallery's filter.
  const labels = await ctx.db.prisma.$queryRaw<{ label: string; count: number }[]>`
    SELECT l.label, count(*)::int AS count
    FROM media m JOIN messages msg ON msg.id = m.message_id JOIN media_labels l ON l.media_id = m.id
    WHERE m.chat_id = ${chatId}::uuid AND m.deleted_at IS NULL AND m.kind = 'image'
      AND msg.deleted_at IS NULL AND (msg.expires_at IS NULL OR msg.expires_at > ${ctx.now()})
      AND msg.seq > ${membership.clearedSeq}
      AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = msg.id AND h.user_id = ${userId}::uuid)
    GROUP BY l.label ORDER BY count(*) DESC, l.label LIMIT 50`;
  const page = rows.slice(0, query.limit);
  const found = await ctx.db.prisma.media.findMany({ where: { id: { in: page.map((r) => r.id) } } });
  const byId = new Map(found.map((r) => [r.id, r]));
  const last = page.at(-1);
  return {
    items: page.flatMap((r) => {
      const row = byId.get(r.id);
      return row ? [{ row, seq: r.seq }] : [];
    }),
    nextCursor: rows.length > query.limit && last ? `${last.seq}.${last.position}` : null,
    labels,
  };
}
