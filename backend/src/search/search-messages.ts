/**
 * Message search: one SQL statement that finds, scopes, ranks and pages, built from the
 * parsed query with every value a bind parameter.
 *
 * Scope is part of the statement, not a filter afterwards: only chats the caller is a
 * member of now (history from before they joined included, as the chat shows it; nothing
 * up to their cleared position), never deleted, expired or deleted-for-me messages.
 *
 * Matching, on the columns the search migration maintains (see its comments):
 * - a word of 3+ characters is a substring of search_text (trigram index): "deploy" finds
 *   "deployment", "config" finds "getUserConfig";
 * - a shorter word is a word start in search_vector ("go" finds "golang", not "ago");
 * - a two-character CJK word is a bigram of search_vector (上海 in 我家在上海东边);
 * - prefix* is a word start, "a phrase" is these words in order (CJK phrases: substring);
 * - -exclusions leave out messages with that word start or phrase.
 * Rank: ts_rank over the words and phrases (word-start matches count, substring-only
 * matches rank 0), then newer first; sort=date is newest first.
 *
 * Cost (see "Search" in specs/benchmarks.md): ranking needs each candidate row, and a
 * common word matches tens of thousands of messages. So relevance ranks the newest
 * RANK_CANDIDATES matches (every match when there are fewer): the planner can then walk
 * the messages newest first (messages_created_at_idx) and stop, instead of reading every
 * match. A cursor carries the oldest candidate's time, so later pages rank the same set.
 * For a caller whose chats hold a small share of all messages, the statement also names
 * those chats (`chat_id = ANY(...)`, read just before), so the chat index narrows the text
 * index's matches before any row is read; the membership join still decides the scope.
 */
import type { MessageHit, SearchResult } from '@parley/contracts';
import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { isEmptyQuery, type ParsedQuery, parseQuery, type TextTerm } from './parse-query.js';
import { buildSnippet } from './snippet.js';

export interface MessageSearch {
  q: string;
  chatId?: string | undefined;
  limit: number;
  cursor?: string | undefined;
  sort: 'relevance' | 'date';
}

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/u;
const ONLY_WORD_CHARS = /^[\p{L}\p{N}]+$/u;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** A tsquery lexeme from user text: normalised in SQL, quoted, with quotes and backslashes escaped. */
const lexeme = (param: string) =>
  `replace(replace(parley_search_text(${param}), '\\', '\\\\'), '''', '''''')`;
const prefixQuery = (param: string) => `to_tsquery('simple', '''' || ${lexeme(param)} || ''':*')`;
const exactQuery = (param: string) => `to_tsquery('simple', '''' || ${lexeme(param)} || '''')`;
const phraseQuery = (param: string) => `phraseto_tsquery('simple', parley_search_text(${param}))`;

/** Relevance ranks at most this many matches: the newest ones (see above). */
export const RANK_CANDIDATES = 100;
/** The caller's chats are named in the statement when they hold at most this share of all messages. */
const SCOPE_HINT_SHARE = 0.1;

const cursorSchema = z.union([
  // rank, time, id, and the oldest candidate's time (null: every match was a candidate).
  z.tuple([
    z.literal('r'),
    z.number().finite(),
    z.string().datetime(),
    z.string().regex(UUID),
    z.string().datetime().nullable(),
  ]),
  z.tuple([z.literal('d'), z.string().datetime(), z.string().regex(UUID)]),
]);

function decodeCursor(cursor: string, sort: MessageSearch['sort']) {
  let parsed: z.infer<typeof cursorSchema> | null = null;
  try {
    const result = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (result.success) parsed = result.data;
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed[0] === 'r') !== (sort === 'relevance')) {
    throw new AppError('VALIDATION_ERROR', 'Some fields are not valid.', [
      { path: 'cursor', message: 'Invalid cursor.', location: 'query' },
    ]);
  }
  return parsed;
}

const encodeCursor = (value: unknown[]) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface HitRow {
  id: string;
  chat_id: string;
  seq: number;
  body: string;
  sender_id: string | null;
  created_at: Date;
  edited_at: Date | null;
  rank: number;
  /** The oldest candidate's time when relevance ranked only the newest RANK_CANDIDATES. */
  floor: Date | null;
}

/**
 * What the statement is built with, read just before it in the same transaction: the
 * caller's chats as narrowed by chatId and in: (an id, a group's name, or a direct chat's
 * other person by @username or display name), how many messages they hold against the
 * table's size (the planner's estimate), and the ids of the from: usernames. Resolved
 * here, the statement names them as values the planner can see: which chats (see
 * scopeHint), which senders (a prolific one is no reason to read the sender index).
 */
export function scopeStatement(
  userId: string,
  parsed: Pick<ParsedQuery, 'in' | 'from'>,
  chatId?: string,
): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const p = (v: unknown, type: string) => {
    values.push(v);
    return `$${values.length}::${type}`;
  };
  const me = p(userId, 'uuid');
  const where = [`cm.user_id = ${me}`];
  if (chatId) where.push(`cm.chat_id = ${p(chatId, 'uuid')}`);
  if (parsed.in.length > 0) {
    const ids = parsed.in.filter((v) => UUID.test(v)).map((v) => v.toLowerCase());
    const names = parsed.in.map((v) => v.toLowerCase());
    const usernames = parsed.in.map((v) => v.replace(/^@/, '').toLowerCase());
    where.push(`(c.id = ANY(${p(ids, 'uuid[]')})
        OR (c.kind = 'group' AND lower(c.name) = ANY(${p(names, 'text[]')}))
        OR (c.kind = 'direct' AND EXISTS (
          SELECT 1 FROM chat_members o JOIN users u ON u.id = o.user_id
          WHERE o.chat_id = c.id AND o.user_id <> ${me}
            AND (u.username = ANY(${p(usernames, 'text[]')}) OR lower(u.display_name) = ANY(${p(names, 'text[]')})))))`);
  }
  const senders = p(
    parsed.from.filter((u) => u !== 'me'),
    'text[]',
  );
  return {
    text: `WITH mine AS (
      SELECT cm.chat_id, c.last_seq - cm.cleared_seq AS messages
      FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
      WHERE ${where.join('\n        AND ')})
    SELECT (SELECT coalesce(array_agg(chat_id::text), '{}') FROM mine) AS chat_ids,
      (SELECT coalesce(sum(messages), 0)::float8 FROM mine) AS messages,
      (SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'messages'::regclass) AS table_rows,
      (SELECT coalesce(array_agg(u.id::text), '{}') FROM users u WHERE u.username = ANY(${senders})) AS sender_ids`,
    values,
  };
}

export interface ScopeRow {
  /** The caller's chats, narrowed by chatId and in:. */
  chat_ids: string[];
  /** Messages in them (their last seq, less what the caller cleared). */
  messages: number;
  table_rows: number;
  /** The from: usernames' ids. */
  sender_ids: string[];
}

/**
 * The chats to name in the statement as an index condition, or null. Naming them lets the
 * planner intersect the chat index with the text index (a user in 50 of 1,000 chats reads
 * 1 in 20 of a common word's matches); when they hold much of the table, building that
 * bitmap costs more than it saves, and walking the newest messages or the text index alone
 * is cheaper. Chats narrowed by chatId or in: are always named (none: nothing is found).
 */
export function scopeHint(row: ScopeRow, narrowed: boolean): string[] | null {
  if (narrowed) return row.chat_ids;
  return row.messages <= SCOPE_HINT_SHARE * Math.max(row.table_rows, row.messages) ? row.chat_ids : null;
}

/** The statement and its parameters. Exported for the benchmark's EXPLAIN. */
export function buildSearchStatement(
  parsed: ParsedQuery,
  opts: {
    userId: string;
    /** "Search in this chat". */
    chatId?: string | undefined;
    now: Date;
    limit: number;
    sort: MessageSearch['sort'];
    cursor?: string | undefined;
    /** The row of scopeStatement for the same query, user and chatId. */
    scope: ScopeRow;
  },
): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  // Every parameter is typed where it is used, so none is left for the server to guess.
  const p = (v: unknown, type: string) => {
    values.push(v);
    return `$${values.length}::${type}`;
  };
  const me = p(opts.userId, 'uuid');

  const where: string[] = [
    `m.kind = 'text'`,
    `m.deleted_at IS NULL`,
    `(m.expires_at IS NULL OR m.expires_at > ${p(opts.now, 'timestamptz')})`,
    // The caller's hidden messages are read once and looked up per row (a hashed subplan):
    // as an anti-join, a phrase (whose matches the planner guesses at one or two) got a
    // nested loop that scanned them all for every row.
    `m.id NOT IN (SELECT h.message_id FROM message_hides h WHERE h.user_id = ${me})`,
  ];
  // Built only when ranking by relevance (an unused parameter would have no type).
  const rankParts: (() => string)[] = [];

  const termCondition = (term: TextTerm, negated: boolean): string => {
    let param = '';
    const text = () => (param ||= p(term.text, 'text'));
    if (term.kind === 'phrase') {
      const cond = CJK.test(term.text)
        ? `m.search_text LIKE '%' || parley_search_text(${p(escapeLike(term.text), 'text')}) || '%'`
        : `m.search_vector @@ ${phraseQuery(text())}`;
      if (!negated && !CJK.test(term.text)) rankParts.push(() => phraseQuery(text()));
      return cond;
    }
    const chars = [...term.text].length;
    const cjk = CJK.test(term.text);
    if (!negated) rankParts.push(() => prefixQuery(text()));
    if (term.kind === 'prefix' || negated) {
      return ONLY_WORD_CHARS.test(term.text) || chars < 3
        ? `m.search_vector @@ ${prefixQuery(text())}`
        : `m.search_text LIKE '%' || parley_search_text(${p(escapeLike(term.text), 'text')}) || '%'`;
    }
    if (cjk && chars === 2) return `m.search_vector @@ ${exactQuery(text())}`;
    if (chars >= 3 || !ONLY_WORD_CHARS.test(term.text)) {
      return `m.search_text LIKE '%' || parley_search_text(${p(escapeLike(term.text), 'text')}) || '%'`;
    }
    return `m.search_vector @@ ${prefixQuery(text())}`;
  };
  for (const term of parsed.include) where.push(termCondition(term, false));
  for (const term of parsed.exclude) where.push(`NOT (${termCondition(term, true)})`);

  if (parsed.from.length > 0) {
    const usernames = parsed.from.filter((u) => u !== 'me');
    const conds = [];
    if (parsed.from.includes('me')) conds.push(`m.sender_id = ${me}`);
    if (usernames.length > 0) conds.push(`m.sender_id = ANY(${p(opts.scope.sender_ids, 'uuid[]')})`);
    where.push(`(${conds.join(' OR ')})`);
  }
  for (const has of parsed.has) {
    if (has === 'link') where.push(`m.search_text ~ '(https?://|www\\.)[^ ]'`);
    if (has === 'mention') where.push(`EXISTS (SELECT 1 FROM message_mentions x WHERE x.message_id = m.id)`);
    if (has === 'reaction')
      where.push(`EXISTS (SELECT 1 FROM message_reactions x WHERE x.message_id = m.id)`);
    // has:image — a picture; has:file — any attachment (pictures, videos, voice notes, documents).
    if (has === 'image' || has === 'file') {
      where.push(
        `EXISTS (SELECT 1 FROM media x WHERE x.message_id = m.id AND x.deleted_at IS NULL${
          has === 'image' ? ` AND x.kind = 'image'` : ''
        })`,
      );
    }
  }
  if (parsed.unread) where.push(`m.sender_id IS DISTINCT FROM ${me}`);
  if (parsed.before) where.push(`m.created_at < ${p(parsed.before, 'timestamptz')}`);
  if (parsed.after) where.push(`m.created_at >= ${p(parsed.after, 'timestamptz')}`);

  // The scope: a message of a chat the caller is in (narrowed by chatId and in:), after
  // their cleared position (and their read position, for is:unread).
  const narrowed = Boolean(opts.chatId) || parsed.in.length > 0;
  const chatIds = scopeHint(opts.scope, narrowed);
  if (chatIds) where.push(`m.chat_id = ANY(${p(chatIds, 'uuid[]')})`);
  let from: string;
  if (chatIds && !narrowed) {
    // Few chats, named above: the membership is checked per row (OFFSET 0 keeps it from
    // becoming a join). As a join next to the named chats, the planner would count the
    // chats' share twice and take a scan of the messages chat by chat for cheap, which
    // reads every message of those chats.
    from = 'messages m';
    where.push(`EXISTS (SELECT 1 FROM chat_members cm
      WHERE cm.chat_id = m.chat_id AND cm.user_id = ${me} AND m.seq > cm.cleared_seq${parsed.unread ? ' AND m.seq > cm.last_read_seq' : ''}
      OFFSET 0)`);
  } else {
    // Many chats (or the few chosen by chatId or in:): a join, which the planner costs per
    // message found, so it can walk the newest messages and stop (see RANK_CANDIDATES).
    const mine = [`cm.user_id = ${me}`];
    if (narrowed) mine.push(`cm.chat_id = ANY(${p(opts.scope.chat_ids, 'uuid[]')})`);
    from = `(SELECT cm.chat_id, cm.cleared_seq, cm.last_read_seq FROM chat_members cm WHERE ${mine.join(' AND ')}) mine
    JOIN messages m ON m.chat_id = mine.chat_id AND m.seq > mine.cleared_seq`;
    if (parsed.unread) where.push('m.seq > mine.last_read_seq');
  }

  const cursor = opts.cursor ? decodeCursor(opts.cursor, opts.sort) : null;
  const ranked = opts.sort === 'relevance' && rankParts.length > 0;
  const columns = `m.id::text AS id, m.chat_id::text AS chat_id, m.seq, m.body, m.sender_id::text AS sender_id,
    m.created_at, m.edited_at`;

  if (!ranked) {
    // Newest first (sort=date, or nothing to rank by): the keyset goes into the scan, so
    // the planner may walk messages_created_at_idx from the cursor and stop at the limit.
    if (cursor) {
      const [at, id] = cursor[0] === 'd' ? [cursor[1], cursor[2]] : [cursor[2], cursor[3]];
      where.push(`(m.created_at, m.id) < (${p(at, 'timestamptz')}, ${p(id, 'uuid')})`);
    }
    const text = `
SELECT ${columns}, 0::real AS rank, NULL::timestamptz AS floor
FROM ${from}
WHERE ${where.join('\n  AND ')}
ORDER BY m.created_at DESC, m.id DESC
LIMIT ${p(opts.limit + 1, 'int')}`;
    return { text, values };
  }

  // Relevance: the candidates are the newest RANK_CANDIDATES matches on a first page. A
  // later page takes the matches since the oldest candidate of the first (all of them when
  // the first had fewer), so paging walks one fixed ranking however many new matches
  // arrive meanwhile, up to as many again: any cursor, forged ones too, bounds the work.
  const floor = cursor?.[0] === 'r' ? cursor[4] : null;
  if (floor) where.push(`m.created_at >= ${p(floor, 'timestamptz')}`);
  const firstPage = !cursor;
  const rank = `ts_rank(c.search_vector, ${rankParts.map((r) => `(${r()})`).join(' || ')}, 1)`;
  const after =
    cursor?.[0] === 'r'
      ? `WHERE (r.rank, r.created_at, r.id) < (${p(cursor[1], 'real')}, ${p(cursor[2], 'timestamptz')}, ${p(cursor[3], 'uuid')})`
      : '';
  const text = `
SELECT r.id::text AS id, r.chat_id::text AS chat_id, r.seq, r.body, r.sender_id::text AS sender_id,
  r.created_at, r.edited_at, r.rank, r.floor
FROM (
  SELECT c.id, c.chat_id, c.seq, c.body, c.sender_id, c.created_at, c.edited_at, ${rank} AS rank,
    ${firstPage ? `CASE WHEN count(*) OVER () >= ${RANK_CANDIDATES} THEN min(c.created_at) OVER () END` : 'NULL::timestamptz'} AS floor
  FROM (
    SELECT m.id, m.chat_id, m.seq, m.body, m.sender_id, m.created_at, m.edited_at, m.search_vector
    FROM ${from}
    WHERE ${where.join('\n      AND ')}
    ORDER BY m.created_at DESC
    LIMIT ${firstPage ? RANK_CANDIDATES : 2 * RANK_CANDIDATES}
  ) c
) r
${after}
ORDER BY r.rank DESC, r.created_at DESC, r.id DESC
LIMIT ${p(opts.limit + 1, 'int')}`;
  return { text, values };
}

/** Terms for highlighting: the words, prefixes and phrases the query includes. */
export function highlightTerms(parsed: ParsedQuery): string[] {
  return parsed.include.map((t) => t.text);
}

export async function searchMessages(
  ctx: AppContext,
  userId: string,
  query: MessageSearch,
): Promise<SearchResult> {
  const parsed = parseQuery(query.q);
  const terms = highlightTerms(parsed);
  if (isEmptyQuery(parsed)) return { messages: [], users: [], nextCursor: null, terms };
  const build = (scope: ScopeRow) =>
    buildSearchStatement(parsed, {
      userId,
      chatId: query.chatId,
      now: ctx.now(),
      limit: query.limit,
      sort: query.sort,
      cursor: query.cursor,
      scope,
    });
  // A bad cursor is refused before the database is asked.
  const cursor = query.cursor ? decodeCursor(query.cursor, query.sort) : null;
  const rows = await runSearch(ctx, scopeStatement(userId, parsed, query.chatId), build);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  // A later page keeps the first page's candidate set (see RANK_CANDIDATES).
  const floor = cursor ? (cursor[0] === 'r' ? cursor[4] : null) : (last?.floor?.toISOString() ?? null);
  const nextCursor =
    rows.length > query.limit && last
      ? encodeCursor(
          query.sort === 'relevance'
            ? ['r', last.rank, last.created_at.toISOString(), last.id, floor]
            : ['d', last.created_at.toISOString(), last.id],
        )
      : null;
  return { messages: await presentHits(ctx, userId, page, terms), users: [], nextCursor, terms };
}

/** What a search statement runs with on PostgreSQL (the benchmark's EXPLAIN uses them too). */
export const SEARCH_SETTINGS = [
  // Every pooled connection plans statements generically (see infra/db); a search's best
  // plan depends on its values (a rare word: the text index; a common one: the newest
  // messages), so it is planned for the values it has.
  'SET LOCAL plan_cache_mode = force_custom_plan',
  // A search's estimated cost can pass jit_above_cost, and compiling would take longer
  // than the search itself.
  'SET LOCAL jit = off',
  // Parallel workers cost more to start and to share the cores with than a scan that stops
  // after a few hundred rows saves (measured: slower under load, never faster).
  'SET LOCAL max_parallel_workers_per_gather = 0',
];

/**
 * The caller's scope first (scopeStatement), then the statement built with it, in one
 * read-only transaction of its own on PostgreSQL.
 */
async function runSearch(
  ctx: AppContext,
  scope: { text: string; values: unknown[] },
  build: (scope: ScopeRow) => { text: string; values: unknown[] },
): Promise<HitRow[]> {
  if (ctx.db.kind !== 'postgres') {
    const [row] = await ctx.db.sql<ScopeRow>({ text: scope.text }, scope.values);
    const statement = build(row!);
    return ctx.db.sql<HitRow>({ text: statement.text }, statement.values);
  }
  return ctx.db.withConnection(async (conn) => {
    // One round trip to open the transaction with its settings: on a busy machine every
    // round trip waits for the scheduler twice.
    await conn.exec(['BEGIN READ ONLY', ...SEARCH_SETTINGS].join('; '));
    try {
      const [row] = await conn.query<ScopeRow>(scope.text, scope.values);
      const statement = build(row!);
      const rows = await conn.query<HitRow>(statement.text, statement.values);
      await conn.exec('COMMIT');
      return rows;
    } catch (err) {
      await conn.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

async function presentHits(
  ctx: AppContext,
  userId: string,
  rows: HitRow[],
  terms: string[],
): Promise<MessageHit[]> {
  if (rows.length === 0) return [];
  const chatIds = [...new Set(rows.map((r) => r.chat_id))];
  const senderIds = [...new Set(rows.flatMap((r) => (r.sender_id ? [r.sender_id] : [])))];
  const [chats, senders] = await Promise.all([
    ctx.db.sql<{ id: string; kind: 'direct' | 'group'; name: string; peer: string | null }>(CHAT_TITLES, [
      chatIds,
      userId,
    ]),
    ctx.db.prisma.user.findMany({
      where: { id: { in: senderIds } },
      select: { id: true, username: true, displayName: true },
    }),
  ]);
  const chatById = new Map(chats.map((c) => [c.id, c]));
  const senderById = new Map(senders.map((s) => [s.id, s]));
  return rows.map((r) => {
    const chat = chatById.get(r.chat_id);
    return {
      messageId: r.id,
      chat: {
        id: r.chat_id,
        kind: chat?.kind ?? 'group',
        title: chat?.kind === 'direct' ? (chat.peer ?? 'Deleted user') : (chat?.name ?? ''),
      },
      sender: (r.sender_id && senderById.get(r.sender_id)) || null,
      seq: r.seq,
      createdAt: r.created_at.toISOString(),
      editedAt: r.edited_at?.toISOString() ?? null,
      snippet: buildSnippet(r.body, terms),
      link: `/chats/${r.chat_id}/messages/${r.id}`,
    };
  });
}

const CHAT_TITLES = {
  name: 'search-chat-titles',
  text: `SELECT c.id::text AS id, c.kind, c.name,
    (SELECT u.display_name FROM chat_members o JOIN users u ON u.id = o.user_id
     WHERE o.chat_id = c.id AND o.user_id <> $2::uuid LIMIT 1) AS peer
  FROM chats c WHERE c.id = ANY($1::uuid[])`,
};
