/**
 * The list of words search corrects typos to (search_words, see its migration): kept up to
 * date in the background from the messages sent and edited since the last run, so the send
 * path pays nothing for it. Each run reads in (created_at, id) order up to a horizon a
 * little in the past (SEARCH_WORDS_LAG_MS: a send that was slow to commit is not skipped),
 * in batches, and remembers where it stopped; edits likewise by (edited_at, id). Words of
 * attachment names and of the text read in pictures (media analysis) come with their message; disappearing messages add nothing.
 *
 * Every node runs it; one at a time does the work (the progress row is taken with
 * FOR UPDATE SKIP LOCKED, and the others skip that run).
 */
import type { AppContext } from '../app-context.js';
import { oneAtATime } from '../infra/one-at-a-time.js';

export interface WordList {
  /** Reads what is new up to the horizon; returns how many messages it read. */
  refresh(): Promise<number>;
  close(): void;
}

const BATCH = 2_000;

type Progress = { sent_at: Date; sent_id: string; edited_at: Date; edited_id: string };

/** The next batch after a key, and its last key. `column` is created_at or edited_at. */
const nextBatch = (column: 'created_at' | 'edited_at') => `
  SELECT id::text AS id, ${column} AS at FROM messages
  WHERE (${column}, id) > ($1::timestamptz, $2::uuid) AND ${column} <= $3::timestamptz
    AND deleted_at IS NULL AND expires_at IS NULL
  ORDER BY ${column}, id
  LIMIT ${BATCH}`;

const ADD_WORDS = `
  INSERT INTO search_words (word)
  SELECT DISTINCT w FROM (
    SELECT parley_dictionary_words(coalesce(s.search_vector, parley_search_vector(m.body))) AS w
    FROM messages m LEFT JOIN message_search s ON s.message_id = m.id WHERE m.id = ANY($1::uuid[])
    UNION ALL
    SELECT parley_name_words(x.search_name)
    FROM media x WHERE x.message_id = ANY($1::uuid[]) AND x.deleted_at IS NULL
    UNION ALL
    SELECT parley_name_words(a.search_text)
    FROM media x JOIN media_analysis a ON a.media_id = x.id
    WHERE x.message_id = ANY($1::uuid[]) AND x.deleted_at IS NULL AND a.search_text IS NOT NULL
  ) s
  ON CONFLICT DO NOTHING`;

export function createWordList(ctx: AppContext, opts: { intervalMs: number; lagMs: number }): WordList {
  /** One batch of sends and one of edits, in one transaction with the progress row; null: another node has it. */
  async function step(): Promise<{ read: number; more: boolean } | null> {
    return ctx.db.prisma.$transaction(async (tx) => {
      const [progress] = await tx.$queryRawUnsafe<Progress[]>(
        `SELECT sent_at, sent_id::text AS sent_id, edited_at, edited_id::text AS edited_id
         FROM search_word_progress WHERE id = 1 FOR UPDATE SKIP LOCKED`,
      );
      if (!progress) return null;
      const horizon = new Date(ctx.now().getTime() - opts.lagMs);
      const sent = await tx.$queryRawUnsafe<{ id: string; at: Date }[]>(
        nextBatch('created_at'),
        progress.sent_at,
        progress.sent_id,
        horizon,
      );
      const edited = await tx.$queryRawUnsafe<{ id: string; at: Date }[]>(
        nextBatch('edited_at'),
        progress.edited_at,
        progress.edited_id,
        horizon,
      );
      const ids = [...sent, ...edited].map((r) => r.id);
      if (ids.length > 0) await tx.$executeRawUnsafe(ADD_WORDS, ids);
      const lastSent = sent.at(-1);
      const lastEdited = edited.at(-1);
      if (lastSent || lastEdited) {
        await tx.searchWordProgress.update({
          where: { id: 1 },
          data: {
            ...(lastSent ? { sentAt: lastSent.at, sentId: lastSent.id } : {}),
            ...(lastEdited ? { editedAt: lastEdited.at, editedId: lastEdited.id } : {}),
          },
        });
      }
      return { read: ids.length, more: sent.length === BATCH || edited.length === BATCH };
    });
  }

  async function refreshOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const done = await step();
      if (!done) return total;
      total += done.read;
      if (!done.more) return total;
    }
  }

  const refresh = oneAtATime(refreshOnce);
  const timer = setInterval(
    () => void refresh().catch((err: unknown) => ctx.log.warn({ err }, 'search word list: refresh failed')),
    opts.intervalMs,
  );
  timer.unref();
  return { refresh, close: () => clearInterval(timer) };
}
