/**
 * The search index, kept off the send path (see the search_index_async migration).
 *
 * A send adds its message's id to message_search_queue in its own statement. This job
 * moves queued messages into message_search in batches: their search_text and
 * search_vector (the search migration's functions) go into the GIN indexes there, one
 * statement per batch instead of one index update per send's commit. Until then search
 * computes the same values from the queued message's text (search-messages.ts), so a
 * message is found once its send is acknowledged, indexed or not.
 *
 * An edit or a delete for everyone writes its message's row in its own transaction
 * (searchRowWriteSql) and takes the message off the queue unless a batch holds it. The job
 * inserts with ON CONFLICT DO NOTHING, so whichever commits last, the row holds the newest
 * text: the job never overwrites a row, and a writer that finds the job's uncommitted row
 * waits for it and then overwrites it.
 *
 * Every node runs the job; the batches do not overlap (FOR UPDATE SKIP LOCKED). A message
 * erased while queued (disappearing messages, a deleted chat) leaves its id, dropped by the
 * next batch; one erased while its batch runs makes that batch fail its foreign key check,
 * and the next batch goes without it.
 */
import type { AppContext } from '../app-context.js';
import type { Prisma } from '../infra/db/generated/client.js';
import type { Statement } from '../infra/db/client.js';
import { oneAtATime } from '../infra/one-at-a-time.js';

export interface SearchIndexer {
  /** Indexes everything queued; returns how many messages it indexed. */
  drain(): Promise<number>;
  /** How many times the queue was vacuumed (see drainOnce). */
  readonly vacuums: number;
  /** Stops the timer; resolves once a batch under way is done. */
  close(): Promise<void>;
}

/** The columns of a search row, and their values from the message `m` as it is now. */
const SEARCH_ROW = `(message_id, chat_id, sender_id, created_at, search_text, search_vector)`;
const searchRowOf = (m: string) =>
  `${m}.id, ${m}.chat_id, ${m}.sender_id, ${m}.created_at, parley_search_text(${m}.body), parley_search_vector(${m}.body)`;

/**
 * The GIN indexes keep new entries in a pending list and merge it into the index once it
 * passes 4 MB, in whichever statement finds it full: on the embedded database that pause
 * (a third of a second) is the server's. There the job merges what it added after each run,
 * a little at a time. PostgreSQL merges in the job's own connection (or in autovacuum).
 */
const MERGE_PENDING = {
  name: 'search_index_merge',
  text: `SELECT gin_clean_pending_list('message_search_search_text_trgm_idx'::regclass)
    + gin_clean_pending_list('message_search_search_vector_idx'::regclass) AS merged`,
} satisfies Statement;

/** One batch: $1 messages at most. Exported for the search benchmark. */
export const INDEX_BATCH: Statement = {
  name: 'search_index_batch',
  text: `
WITH picked AS (
  SELECT message_id FROM message_search_queue LIMIT $1::int FOR UPDATE SKIP LOCKED
),
indexed AS (
  INSERT INTO message_search ${SEARCH_ROW}
  SELECT ${searchRowOf('m')} FROM messages m JOIN picked p ON p.message_id = m.id
  ON CONFLICT (message_id) DO NOTHING
  RETURNING 1
),
done AS (
  DELETE FROM message_search_queue q USING picked p WHERE q.message_id = p.message_id
  RETURNING 1
)
SELECT (SELECT count(*) FROM picked)::int AS picked, (SELECT count(*) FROM indexed)::int AS indexed,
  (SELECT count(*) FROM done)::int AS done`,
};

/**
 * SQL that writes the search rows of the message rows `rows` (a relation with the messages'
 * columns: a table with a WHERE, or a data-modifying CTE's RETURNING) from their text and
 * takes them off the queue: after an edit, or the empty text of a delete for everyone. For
 * a WITH list: two CTEs, named after `name`.
 *
 * A queued message the job has picked (its batch holds the queue row) stays queued: the
 * job finds this row and keeps it. Waiting for that queue row instead would deadlock, since
 * the job's insert of the same message waits for this writer's row.
 */
export function searchRowWriteSql(name: string, rows: string): string {
  return `${name}_row AS (
      INSERT INTO message_search ${SEARCH_ROW}
      SELECT ${searchRowOf('m')} FROM ${rows}
      ON CONFLICT (message_id) DO UPDATE
        SET search_text = EXCLUDED.search_text, search_vector = EXCLUDED.search_vector
      RETURNING message_id
    ),
    ${name}_dequeued AS (
      DELETE FROM message_search_queue q WHERE q.message_id IN (
        SELECT message_id FROM message_search_queue
        WHERE message_id IN (SELECT message_id FROM ${name}_row)
        FOR UPDATE SKIP LOCKED)
    )`;
}

/** Writes a message's search row from its text as it is now in this transaction (see searchRowWriteSql). */
export async function writeSearchRow(tx: Prisma.TransactionClient, messageId: string): Promise<void> {
  await tx.$executeRawUnsafe(
    `WITH ${searchRowWriteSql('search', 'messages m WHERE m.id = $1::uuid')} SELECT 1`,
    messageId,
  );
}

export function createSearchIndexer(
  ctx: AppContext,
  opts: {
    intervalMs: number;
    /** Messages per statement. */
    batch: number;
    /** The queue is vacuumed after this many messages and this long since the last time. */
    vacuumAfter?: { messages: number; ms: number };
  },
): SearchIndexer {
  const log = ctx.log.child({ part: 'search-index' });
  const vacuumAfter = opts.vacuumAfter ?? { messages: 10_000, ms: 60_000 };
  let sinceVacuum = 0;
  let lastVacuum = ctx.now().getTime();
  let vacuums = 0;
  const { batch } = opts;
  const embedded = ctx.db.kind === 'pglite';

  async function drainOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const [row] = await ctx.db.sql<{ picked: number; indexed: number; done: number }>(INDEX_BATCH, [batch]);
      const picked = row?.picked ?? 0;
      total += row?.indexed ?? 0;
      sinceVacuum += picked;
      if (picked < batch) break;
    }
    if (embedded && total > 0) await ctx.db.sql(MERGE_PENDING, []);
    // The queue's rows live for a fraction of a second: its dead rows are cleared now and
    // then, here, since the embedded database has no autovacuum (and a server may run
    // without it). A vacuum of a table this small takes milliseconds.
    const now = ctx.now().getTime();
    if (sinceVacuum >= vacuumAfter.messages && now - lastVacuum >= vacuumAfter.ms) {
      sinceVacuum = 0;
      lastVacuum = now;
      await ctx.db.withConnection((conn) => conn.exec('VACUUM message_search_queue'));
      vacuums++;
    }
    return total;
  }

  const drain = oneAtATime(drainOnce);
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = drain().catch((err: unknown) => log.warn({ err }, 'search index: a batch failed; retried'));
  }, opts.intervalMs);
  timer.unref();
  return {
    drain,
    get vacuums() {
      return vacuums;
    },
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
