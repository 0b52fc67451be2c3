/**
 * Message search: one SQL statement that finds, scopes, ranks and pages, built from the
 * parsed query with every value a bind parameter.
 *
 * Scope is part of the statement, not a filter afterwards: only chats the caller is a
 * member of now (history from before they joined included, as the chat shows it; nothing
 * up to their cleared position), never deleted, expired or deleted-for-me messages.
 *
 * Indexed and queued: a message's search_text and search_vector are in message_search once
 * the background indexer has taken it from message_search_queue (search-index.ts); until
 * then they are computed here from its text. The statement has a branch for each, each
 * newest first and limited, merged before ranking; so a message is found as soon as its
 * send is acknowledged, and the queue is a few hundred messages at most in normal running.
 *
 * Matching, on the columns the search migrations define (see their comments):
 * - a word of 3+ characters is a substring of search_text (trigram index): "deploy" finds
 *   "deployment", "config" finds "getUserConfig";
 * - a shorter word is a word start in search_vector ("go" finds "golang", not "ago");
 * - a two-character CJK word is a bigram of search_vector (上海 in 我家在上海东边);
 * - prefix* is a word start, "a phrase" is these words in order (CJK phrases: substring);
 * - -exclusions leave out messages with that word start or phrase.
 * Rank: ts_rank over the words and phrases (word-start matches count, substring-only
 * matches rank 0), then newer first; sort=date is newest first.
 *
 * Typos: when a first page finds nothing, every word of FUZZY_MIN_CHARS or more is looked
 * up in the word list (search_words, kept by word-list.ts): the words one edit away (two for
 * words of 6+ letters; levenshtein, with the trigram index to find candidates) are then
 * searched for as they are, through the tsvector index, and ranked as usual: "deplyment"
 * finds "deployment", "invoice" finds "INVOlCE". The answer says so (`approximate`), its
 * cursor keeps it so, and the similar words found in the page are highlighted.
 *
 * Files (type=files): the same scope and operators, with the words matched against the
 * names of the messages' attachments (media.search_name, a trigram index) instead of their
 * text: one hit per matching file, newest first.
 *
 * Pictures by what is in them (media analysis: the text read and the objects seen, in
 * media_analysis.search_text with a trigram index): with has:image, each word matches a
 * message whose text has it or one of whose pictures shows it (the message and its
 * pictures are one document); type=media matches the pictures only, one hit per picture,
 * newest first, like type=files. Similar words (typos, OCR's slips) work the same way.
 * Hits with pictures carry the picture found, its thumbnail signed for the caller and what
 * was read in it around the match.
 *
 * Cost (see "Search" in specs/benchmarks.md): ranking needs each candidate row, and a
 * common word matches tens of thousands of messages. So relevance ranks the newest
 * RANK_CANDIDATES matches (every match when there are fewer): the planner can then walk
 * the index newest first (message_search_created_at_idx) and stop, instead of reading every
 * match. A cursor carries the oldest candidate's time, so later pages rank the same set.
 * For a caller whose chats hold a small share of all messages, the statement also names
 * those chats (`chat_id = ANY(...)`, read just before), so the chat index narrows the text
 * index's matches before any row is read; the membership join still decides the scope.
 */
import type { ImageHit, MediaLabel, MessageHit, SearchResult } from '@parley/contracts';
import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { isEmptyQuery, type ParsedQuery, parseQuery, type TextTerm } from './parse-query.js';
import { buildSnippet } from './snippet.js';
import { availableVariants } from '../media/presenters.js';
import { asLetters } from '../media/analysis/searchable-text.js';

export interface MessageSearch {
  q: string;
  chatId?: string | undefined;
  limit: number;
  cursor?: string | undefined;
  sort: 'relevance' | 'date';
  /** Messages by their text, their attachments by name, or their pictures by what they show. */
  type?: 'messages' | 'files' | 'media';
}

/** Words at least this long also match similar words when nothing matches exactly. */
export const FUZZY_MIN_CHARS = 4;
/**
 * Candidates for a similar word share this much of their trigrams with it (pg_trgm's `%`):
 * low enough for a swapped pair of letters in a short word ("reveiw": 0.27 of "review"); the
 * edit distance then decides.
 */
const CANDIDATE_THRESHOLD = 'SET pg_trgm.similarity_threshold = 0.2';
/** Similar words used per query word, closest first. */
const SIMILAR_WORDS = 8;

/** Per query word, the words of the list within its edit distance, closest first. */
export const SIMILAR_WORDS_STATEMENT = `
SELECT t.term, array_agg(s.word ORDER BY s.distance, s.similarity DESC, s.word) AS words
FROM unnest($1::text[]) AS t(term)
CROSS JOIN LATERAL (
  SELECT w.word, levenshtein(w.word, parley_search_text(t.term)) AS distance,
    similarity(w.word, parley_search_text(t.term)) AS similarity
  FROM search_words w
  WHERE w.word % parley_search_text(t.term)
    AND levenshtein(w.word, parley_search_text(t.term))
      BETWEEN 1 AND CASE WHEN length(t.term) >= 6 THEN 2 ELSE 1 END
  ORDER BY distance, similarity DESC, w.word
  LIMIT ${SIMILAR_WORDS}
) s
GROUP BY t.term`;

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

const cursorSchema = z.discriminatedUnion('k', [
  // rank, time, id, and the oldest candidate's time (null: every match was a candidate).
  z.object({
    k: z.literal('r'),
    rank: z.number().finite(),
    at: z.string().datetime(),
    id: z.string().regex(UUID),
    floor: z.string().datetime().nullable(),
    fuzzy: z.boolean(),
  }),
  // time and id (a file's id for type=files).
  z.object({ k: z.literal('d'), at: z.string().datetime(), id: z.string().regex(UUID), fuzzy: z.boolean() }),
]);
type Cursor = z.infer<typeof cursorSchema>;

/** One hit per attachment (type=files, type=media): always newest first. */
const perAttachment = (type: MessageSearch['type']) => type === 'files' || type === 'media';
const sortOf = (query: Pick<MessageSearch, 'sort' | 'type'>) =>
  perAttachment(query.type) ? 'date' : query.sort;

/** A picture's analysis matches a piece of text: a condition on a.search_text (see above). */
const ANALYSIS_OF_IMAGES = `media x JOIN media_analysis a ON a.media_id = x.id`;

function decodeCursor(cursor: string, sort: MessageSearch['sort']): Cursor {
  let parsed: Cursor | null = null;
  try {
    const result = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (result.success) parsed = result.data;
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.k === 'r') !== (sort === 'relevance')) {
    throw new AppError('VALIDATION_ERROR', 'Some fields are not valid.', [
      { path: 'cursor', message: 'Invalid cursor.', location: 'query' },
    ]);
  }
  return parsed;
}

const encodeCursor = (value: Cursor) => Buffer.from(JSON.stringify(value)).toString('base64url');

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
  /** type=files: the attachment whose name matched. */
  file_id?: string;
  file_name?: string;
  file_kind?: 'image' | 'video' | 'voice' | 'file';
  file_mime?: string;
  file_size?: string | number | bigint;
  file_attached_at?: Date;
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
      SELECT cm.chat_id, cm.cleared_seq, c.last_seq - cm.cleared_seq AS messages
      FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
      WHERE ${where.join('\n        AND ')})
    SELECT (SELECT coalesce(array_agg(chat_id::text), '{}') FROM mine) AS chat_ids,
      (SELECT coalesce(array_agg(chat_id::text ORDER BY chat_id), '{}') FROM mine WHERE cleared_seq > 0) AS cleared_chat_ids,
      (SELECT coalesce(array_agg(cleared_seq ORDER BY chat_id), '{}') FROM mine WHERE cleared_seq > 0) AS cleared_seqs,
      (SELECT coalesce(sum(messages), 0)::float8 FROM mine) AS messages,
      (SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'messages'::regclass) AS table_rows,
      (SELECT coalesce(array_agg(u.id::text), '{}') FROM users u WHERE u.username = ANY(${senders})) AS sender_ids`,
    values,
  };
}

export interface ScopeRow {
  /** The caller's chats, narrowed by chatId and in:. */
  chat_ids: string[];
  /** Those of them whose history the caller cleared, and up to which seq (same order). */
  cleared_chat_ids: string[];
  cleared_seqs: number[];
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
    /** Attachment names instead of message text (type=files). */
    type?: MessageSearch['type'];
    /** Per query word, similar words it matches too (see above); absent: as typed only. */
    similar?: Record<string, string[]> | undefined;
  },
): { text: string; values: unknown[] } {
  const files = perAttachment(opts.type);
  const pictures = opts.type === 'media';
  const values: unknown[] = [];
  // Every parameter is typed where it is used, so none is left for the server to guess.
  const p = (v: unknown, type: string) => {
    values.push(v);
    return `$${values.length}::${type}`;
  };
  const me = p(opts.userId, 'uuid');

  /** has:image in a message search: what the message's pictures show counts as its text. */
  const imageContent = !files && parsed.has.includes('image');
  // Built only when ranking by relevance (an unused parameter would have no type), from the
  // first branch built (each branch has the same terms).
  const rankParts: (() => string)[] = [];
  const narrowed = Boolean(opts.chatId) || parsed.in.length > 0;
  const chatIds = scopeHint(opts.scope, narrowed);
  const cursor = opts.cursor ? decodeCursor(opts.cursor, opts.sort) : null;

  /**
   * One branch of the statement: its FROM and WHERE, with `cols` saying where the message's
   * search columns are (message_search's, or computed from a queued message's text).
   */
  const branch = (kind: 'indexed' | 'queued' | 'files', collectRank: boolean) => {
    const cols =
      kind === 'indexed'
        ? {
            text: 's.search_text',
            vector: 's.search_vector',
            time: 's.created_at',
            chat: 's.chat_id',
            sender: 's.sender_id',
          }
        : {
            text: 'parley_search_text(m.body)',
            vector: 'parley_search_vector(m.body)',
            time: 'm.created_at',
            // Files: the chats are named on the files (attaching sets a file's chat to its
            // message's), so only the matching files' messages are read, not every message
            // of those chats.
            chat: kind === 'files' ? 'x.chat_id' : 'm.chat_id',
            sender: 'm.sender_id',
          };
    const where: string[] = [
      `m.kind = 'text'`,
      `m.deleted_at IS NULL`,
      `(m.expires_at IS NULL OR m.expires_at > ${p(opts.now, 'timestamptz')})`,
      // The caller's hidden messages are read once and looked up per row (a hashed subplan):
      // as an anti-join, a phrase (whose matches the planner guesses at one or two) got a
      // nested loop that scanned them all for every row.
      `m.id NOT IN (SELECT h.message_id FROM message_hides h WHERE h.user_id = ${me})`,
    ];
    // A queued message that an edit or a delete has indexed meanwhile is found there.
    if (kind === 'queued')
      where.push(`NOT EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = m.id)`);

    const termCondition = (term: TextTerm, negated: boolean): string => {
      let param = '';
      const text = () => (param ||= p(term.text, 'text'));
      const similar = (!negated && term.kind === 'word' && opts.similar?.[term.text]) || [];
      const like = (column: string) =>
        `${column} LIKE '%' || parley_search_text(${p(escapeLike(term.text), 'text')}) || '%'`;
      /** The term, or a similar word, as a piece of `column` (names, what pictures show). */
      const piece = (column: string) => {
        if (similar.length === 0) return like(column);
        const pieces = p(
          similar.map((w) => `%${escapeLike(w)}%`),
          'text[]',
        );
        return `(${like(column)} OR ${column} LIKE ANY(${pieces}))`;
      };
      // A file name, or what a picture shows (type=media): every kind of term is a piece of it.
      if (files) return piece(pictures ? 'a.search_text' : 'x.search_name');
      const message = messageCondition(term, negated, similar, text, like);
      // has:image: the message's pictures count as its text.
      if (!imageContent) return message;
      return `(${message} OR EXISTS (SELECT 1 FROM ${ANALYSIS_OF_IMAGES}
      WHERE x.message_id = m.id AND x.deleted_at IS NULL AND ${piece('a.search_text')}))`;
    };
    const rankPart = (part: () => string) => {
      if (collectRank) rankParts.push(part);
    };
    const messageCondition = (
      term: TextTerm,
      negated: boolean,
      similar: string[],
      text: () => string,
      like: (column: string) => string,
    ): string => {
      if (similar.length > 0) {
        // The list's words are lexemes as they are (letters only, so nothing to escape).
        const words = p(similar.map((w) => `'${w}'`).join(' | '), 'text');
        rankPart(() => `to_tsquery('simple', ${words})`);
        return `(${like(cols.text)} OR ${cols.vector} @@ to_tsquery('simple', ${words}))`;
      }
      if (term.kind === 'phrase') {
        const cond = CJK.test(term.text) ? like(cols.text) : `${cols.vector} @@ ${phraseQuery(text())}`;
        if (!negated && !CJK.test(term.text)) rankPart(() => phraseQuery(text()));
        return cond;
      }
      const chars = [...term.text].length;
      const cjk = CJK.test(term.text);
      if (!negated) rankPart(() => prefixQuery(text()));
      if (term.kind === 'prefix' || negated) {
        return ONLY_WORD_CHARS.test(term.text) || chars < 3
          ? `${cols.vector} @@ ${prefixQuery(text())}`
          : like(cols.text);
      }
      if (cjk && chars === 2) return `${cols.vector} @@ ${exactQuery(text())}`;
      if (chars >= 3 || !ONLY_WORD_CHARS.test(term.text)) return like(cols.text);
      return `${cols.vector} @@ ${prefixQuery(text())}`;
    };
    for (const term of parsed.include) where.push(termCondition(term, false));
    for (const term of parsed.exclude) where.push(`NOT (${termCondition(term, true)})`);

    if (parsed.from.length > 0) {
      const usernames = parsed.from.filter((u) => u !== 'me');
      const conds = [];
      if (parsed.from.includes('me')) conds.push(`${cols.sender} = ${me}`);
      if (usernames.length > 0) conds.push(`${cols.sender} = ANY(${p(opts.scope.sender_ids, 'uuid[]')})`);
      where.push(`(${conds.join(' OR ')})`);
    }
    for (const has of parsed.has) {
      if (has === 'link') where.push(`${cols.text} ~ '(https?://|www\\.)[^ ]'`);
      if (has === 'mention')
        where.push(`EXISTS (SELECT 1 FROM message_mentions x WHERE x.message_id = m.id)`);
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
    if (parsed.before) where.push(`${cols.time} < ${p(parsed.before, 'timestamptz')}`);
    if (parsed.after) where.push(`${cols.time} >= ${p(parsed.after, 'timestamptz')}`);

    // The scope: a message of a chat the caller is in (narrowed by chatId and in:), after
    // their cleared position (and their read position, for is:unread).
    if (chatIds) where.push(`${cols.chat} = ANY(${p(chatIds, 'uuid[]')})`);
    // The messages: indexed ones with their search row, or those still queued.
    const messages =
      kind === 'indexed'
        ? 'message_search s JOIN messages m ON m.id = s.message_id'
        : kind === 'queued'
          ? 'message_search_queue q JOIN messages m ON m.id = q.message_id'
          : 'messages m';
    let from: string;
    // type=files: one row per attachment of a message found, its name matched above.
    // type=media: one row per analysed picture of a message found, what it shows matched above.
    const attachments = files
      ? `\n    JOIN media x ON x.message_id = m.id AND x.deleted_at IS NULL AND x.status <> 'failed'${
          pictures
            ? `\n    JOIN media_analysis a ON a.media_id = x.id AND a.status = 'done' AND x.kind = 'image'`
            : ''
        }`
      : '';
    if (chatIds && !narrowed && !parsed.unread) {
      // Few chats, named above (read in this transaction, so membership is as of now): no
      // join. As a join next to the named chats, the planner would count the chats' share
      // twice and take a scan of the messages chat by chat for cheap, which reads every
      // message of those chats. A cleared history is a per-row comparison with the positions
      // read alongside (most users clear none: then there is nothing to compare).
      from = `${messages}${attachments}`;
      if (opts.scope.cleared_chat_ids.length > 0) {
        where.push(
          `m.seq > coalesce((${p(opts.scope.cleared_seqs, 'int[]')})[array_position(${p(
            opts.scope.cleared_chat_ids,
            'uuid[]',
          )}, m.chat_id)], 0)`,
        );
      }
    } else if (chatIds && !narrowed) {
      // The same with is:unread: the read position is checked per row (OFFSET 0 keeps it
      // from becoming a join, as above).
      from = `${messages}${attachments}`;
      where.push(`EXISTS (SELECT 1 FROM chat_members cm
      WHERE cm.chat_id = m.chat_id AND cm.user_id = ${me} AND m.seq > cm.cleared_seq AND m.seq > cm.last_read_seq
      OFFSET 0)`);
    } else {
      // Many chats (or the few chosen by chatId or in:): a join, which the planner costs per
      // message found, so it can walk the newest messages and stop (see RANK_CANDIDATES).
      const mine = [`cm.user_id = ${me}`];
      if (narrowed) mine.push(`cm.chat_id = ANY(${p(opts.scope.chat_ids, 'uuid[]')})`);
      const members = `(SELECT cm.chat_id, cm.cleared_seq, cm.last_read_seq FROM chat_members cm WHERE ${mine.join(' AND ')}) mine`;
      from =
        kind === 'indexed'
          ? `${members}
    JOIN message_search s ON s.chat_id = mine.chat_id
    JOIN messages m ON m.id = s.message_id AND m.seq > mine.cleared_seq`
          : `${messages}
    JOIN ${members} ON mine.chat_id = m.chat_id AND m.seq > mine.cleared_seq${attachments}`;
      if (parsed.unread) where.push('m.seq > mine.last_read_seq');
    }
    return { from, where, cols };
  };

  const columns = `m.id, m.chat_id, m.seq, m.body, m.sender_id, m.created_at, m.edited_at`;
  const output = `id::text AS id, chat_id::text AS chat_id, seq, body, sender_id::text AS sender_id, created_at, edited_at`;

  if (files) {
    // Newest first, by the time files were attached (their message's time): the keyset goes
    // into the scan, so a common piece of a name walks media_attached_idx and stops at the
    // limit instead of joining every file it matches. Message text only counts for has:link,
    // computed per file found.
    const { from, where } = branch('files', false);
    if (cursor)
      where.push(`(x.attached_at, x.id) < (${p(cursor.at, 'timestamptz')}, ${p(cursor.id, 'uuid')})`);
    const text = `
SELECT m.id::text AS id, m.chat_id::text AS chat_id, m.seq, m.body, m.sender_id::text AS sender_id,
  m.created_at, m.edited_at, 0::real AS rank, NULL::timestamptz AS floor,
  x.id::text AS file_id, x.name AS file_name, x.kind AS file_kind, x.mime AS file_mime, x.size AS file_size,
  x.attached_at AS file_attached_at
FROM ${from}
WHERE ${where.join('\n  AND ')}
ORDER BY x.attached_at DESC, x.id DESC
LIMIT ${p(opts.limit + 1, 'int')}`;
    return { text, values };
  }

  // Messages: those indexed (message_search, the GIN indexes) and those still queued (their
  // text read as it is), each branch newest first and limited, then merged.
  const [indexed, queued] = [branch('indexed', true), branch('queued', false)];
  const ranked = opts.sort === 'relevance' && rankParts.length > 0;
  if (!ranked) {
    // Newest first (sort=date, or nothing to rank by): the keyset goes into each branch, so
    // the planner may walk message_search_created_at_idx from the cursor and stop at the limit.
    const limit = p(opts.limit + 1, 'int');
    const part = (b: typeof indexed) => {
      if (cursor)
        b.where.push(`(${b.cols.time}, m.id) < (${p(cursor.at, 'timestamptz')}, ${p(cursor.id, 'uuid')})`);
      return `(SELECT ${columns}
  FROM ${b.from}
  WHERE ${b.where.join('\n    AND ')}
  ORDER BY ${b.cols.time} DESC, m.id DESC
  LIMIT ${limit})`;
    };
    const text = `
SELECT ${output}, 0::real AS rank, NULL::timestamptz AS floor
FROM (
${part(indexed)}
UNION ALL
${part(queued)}
) u
ORDER BY created_at DESC, id DESC
LIMIT ${limit}`;
    return { text, values };
  }

  // Relevance: the candidates are the newest RANK_CANDIDATES matches on a first page. A
  // later page takes the matches since the oldest candidate of the first (all of them when
  // the first had fewer), so paging walks one fixed ranking however many new matches
  // arrive meanwhile, up to as many again: any cursor, forged ones too, bounds the work.
  const firstPage = !cursor;
  const floor = cursor?.k === 'r' ? cursor.floor : null;
  const candidates = firstPage ? RANK_CANDIDATES : 2 * RANK_CANDIDATES;
  const part = (b: typeof indexed) => {
    if (floor) b.where.push(`${b.cols.time} >= ${p(floor, 'timestamptz')}`);
    return `(SELECT ${columns}, ${b.cols.vector} AS search_vector
      FROM ${b.from}
      WHERE ${b.where.join('\n        AND ')}
      ORDER BY ${b.cols.time} DESC
      LIMIT ${candidates})`;
  };
  const rank = `ts_rank(c.search_vector, ${rankParts.map((r) => `(${r()})`).join(' || ')}, 1)`;
  const after =
    cursor?.k === 'r'
      ? `WHERE (r.rank, r.created_at, r.id) < (${p(cursor.rank, 'real')}, ${p(cursor.at, 'timestamptz')}, ${p(cursor.id, 'uuid')})`
      : '';
  const text = `
SELECT r.id::text AS id, r.chat_id::text AS chat_id, r.seq, r.body, r.sender_id::text AS sender_id,
  r.created_at, r.edited_at, r.rank, r.floor
FROM (
  SELECT c.id, c.chat_id, c.seq, c.body, c.sender_id, c.created_at, c.edited_at, ${rank} AS rank,
    ${firstPage ? `CASE WHEN count(*) OVER () >= ${RANK_CANDIDATES} THEN min(c.created_at) OVER () END` : 'NULL::timestamptz'} AS floor
  FROM (
    SELECT * FROM (
      ${part(indexed)}
      UNION ALL
      ${part(queued)}
    ) u
    ORDER BY u.created_at DESC
    LIMIT ${candidates}
  ) c
) r
${after}
ORDER BY r.rank DESC, r.created_at DESC, r.id DESC
LIMIT ${p(opts.limit + 1, 'int')}`;
  return { text, values };
}

/** A word that may match similar words: long enough, not CJK, letters and digits only. */
export function isCorrectable(term: TextTerm): boolean {
  return (
    term.kind === 'word' &&
    !CJK.test(term.text) &&
    ONLY_WORD_CHARS.test(term.text) &&
    [...term.text].length >= FUZZY_MIN_CHARS
  );
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
  if (isEmptyQuery(parsed)) return { messages: [], users: [], nextCursor: null, terms, approximate: false };
  const sort = sortOf(query);
  // A bad cursor is refused before the database is asked.
  const cursor = query.cursor ? decodeCursor(query.cursor, sort) : null;
  const correctable = parsed.include.filter(isCorrectable).map((t) => t.text);
  const search = (fuzzy: boolean) =>
    inSearchTransaction(ctx, async (run) => {
      const statement = scopeStatement(userId, parsed, query.chatId);
      const [scope] = await run<ScopeRow>(statement.text, statement.values);
      let similar: Record<string, string[]> | undefined;
      if (fuzzy) {
        const found = await run<{ term: string; words: string[] }>(SIMILAR_WORDS_STATEMENT, [correctable]);
        similar = Object.fromEntries(found.map((r) => [r.term, r.words]));
        // No similar word anywhere: nothing more could match.
        if (found.length === 0) return { rows: [], similar };
      }
      const built = buildSearchStatement(parsed, {
        userId,
        chatId: query.chatId,
        now: ctx.now(),
        limit: query.limit,
        sort,
        cursor: query.cursor,
        scope: scope!,
        type: query.type,
        similar,
      });
      return { rows: await run<HitRow>(built.text, built.values), similar };
    });
  let fuzzy = (cursor?.fuzzy ?? false) && correctable.length > 0;
  let { rows, similar } = await search(fuzzy);
  // Nothing as typed: similar words, if the query has words long enough for that.
  if (rows.length === 0 && !cursor && correctable.length > 0) {
    fuzzy = true;
    ({ rows, similar } = await search(true));
  }
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  // A later page keeps the first page's candidate set (see RANK_CANDIDATES).
  const floor = cursor ? (cursor.k === 'r' ? cursor.floor : null) : (last?.floor?.toISOString() ?? null);
  const at = (perAttachment(query.type) ? last?.file_attached_at : last?.created_at)?.toISOString() ?? '';
  const keyOf = (row: HitRow) => (perAttachment(query.type) ? row.file_id! : row.id);
  const nextCursor =
    rows.length > query.limit && last
      ? encodeCursor(
          sort === 'relevance'
            ? { k: 'r', rank: last.rank, at, id: last.id, floor, fuzzy }
            : { k: 'd', at, id: keyOf(last), fuzzy },
        )
      : null;
  // Similar words are highlighted where they occur, and named only when the page shows them.
  const highlight = [...terms, ...Object.values(similar ?? {}).flat()];
  const pictures =
    query.type === 'media' || (query.type !== 'files' && parsed.has.includes('image'))
      ? { similar: Object.values(similar ?? {}).flat(), byFile: query.type === 'media' }
      : null;
  const messages = await presentHits(ctx, userId, page, highlight, pictures);
  const shown = new Set(
    messages.flatMap((m) =>
      m.snippet.highlights.map((h) => m.snippet.text.slice(h.start, h.end).toLowerCase()),
    ),
  );
  const extra = Object.values(similar ?? {})
    .flat()
    .filter((w) => shown.has(w));
  return { messages, users: [], nextCursor, terms: [...terms, ...extra], approximate: fuzzy };
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
  CANDIDATE_THRESHOLD.replace('SET', 'SET LOCAL'),
];

type Query = <T>(text: string, values: unknown[]) => Promise<T[]>;

/** Runs `fn`'s statements in one read-only transaction of their own on PostgreSQL, with SEARCH_SETTINGS. */
async function inSearchTransaction<T>(ctx: AppContext, fn: (query: Query) => Promise<T>): Promise<T> {
  if (ctx.db.kind !== 'postgres') {
    // One connection, used only by this process: the setting may stay for the session.
    await ctx.db.sql({ text: CANDIDATE_THRESHOLD }, []);
    return fn((text, values) => ctx.db.sql({ text }, values));
  }
  return ctx.db.withConnection(async (conn) => {
    // One round trip to open the transaction with its settings: on a busy machine every
    // round trip waits for the scheduler twice.
    await conn.exec(['BEGIN READ ONLY', ...SEARCH_SETTINGS].join('; '));
    try {
      const result = await fn((text, values) => conn.query(text, values));
      await conn.exec('COMMIT');
      return result;
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
  pictures: { similar: string[]; byFile: boolean } | null,
): Promise<MessageHit[]> {
  if (rows.length === 0) return [];
  const images = pictures
    ? await findImages(ctx, userId, rows, terms, pictures.byFile)
    : new Map<string, ImageHit>();
  const imageOf = (r: HitRow) => {
    const image = images.get(pictures?.byFile ? r.file_id! : r.id);
    return image ? { image } : {};
  };
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
      // type=files: the file's name is the snippet (type=media: the message's text).
      snippet: buildSnippet(pictures?.byFile ? r.body : (r.file_name ?? r.body), terms),
      link: `/chats/${r.chat_id}/messages/${r.id}`,
      ...(r.file_id
        ? {
            file: {
              id: r.file_id,
              name: r.file_name!,
              kind: r.file_kind!,
              mime: r.file_mime!,
              size: Number(r.file_size),
            },
          }
        : {}),
      ...imageOf(r),
    };
  });
}

/** The text read in a picture as one line, the terms marked also where OCR put a digit for a letter. */
function imageSnippet(text: string, terms: string[]) {
  const line = text.replace(/\n/g, ' · ');
  return buildSnippet(
    line,
    terms,
    line.replace(/[\p{L}\p{N}]+/gu, (w) => asLetters(w) ?? w),
  );
}

/**
 * The picture to show with each hit: type=media, the hit's own; has:image, the first of the
 * message's pictures whose analysis matches a term (else its first picture). Keyed by file
 * id (type=media) or message id. The thumbnail URL is signed for the caller; the hits are
 * already in the caller's scope.
 */
async function findImages(
  ctx: AppContext,
  userId: string,
  rows: HitRow[],
  terms: string[],
  byFile: boolean,
): Promise<Map<string, ImageHit>> {
  const pieces = terms.map((t) => `%${escapeLike(t)}%`);
  const found = await ctx.db.sql<{
    key: string;
    id: string;
    width: number | null;
    height: number | null;
    placeholder: string | null;
    variants: unknown;
    status: string;
    text: string | null;
    labels: MediaLabel[] | null;
  }>(
    {
      text: `
      SELECT DISTINCT ON (k.key) k.key, x.id::text AS id, x.width, x.height, x.placeholder, x.variants, x.status,
        a.text,
        (SELECT json_agg(json_build_object('label', l.label, 'score', l.score) ORDER BY l.score DESC)
         FROM media_labels l WHERE l.media_id = x.id) AS labels
      FROM media x
      LEFT JOIN media_analysis a ON a.media_id = x.id AND a.status = 'done'
      CROSS JOIN LATERAL (SELECT CASE WHEN $3::bool THEN x.id::text ELSE x.message_id::text END AS key) k
      WHERE (CASE WHEN $3::bool THEN x.id = ANY($1::uuid[]) ELSE x.message_id = ANY($1::uuid[]) END)
        AND x.kind = 'image' AND x.deleted_at IS NULL
      ORDER BY k.key,
        (a.search_text IS NOT NULL AND EXISTS (
          SELECT 1 FROM unnest($2::text[]) t(piece) WHERE a.search_text LIKE parley_search_text(t.piece))) DESC,
        x.position`,
    },
    [byFile ? rows.map((r) => r.file_id!) : rows.map((r) => r.id), pieces, byFile],
  );
  const now = ctx.now();
  const lowered = terms.map((t) => t.toLowerCase());
  return new Map(
    found.map((f) => {
      const variants = availableVariants({ variants: f.variants as never, status: f.status });
      const { urls } = ctx.mediaSigner.urls(
        f.id,
        variants.filter((v) => v === 'thumbnail'),
        userId,
        now,
      );
      const labels = (f.labels ?? []).filter((l) =>
        lowered.some((t) => l.label.includes(t) || t.includes(l.label)),
      );
      return [
        f.key,
        {
          id: f.id,
          width: f.width,
          height: f.height,
          placeholder: f.placeholder,
          thumbnailUrl: urls.thumbnail ?? null,
          text: imageSnippet(f.text ?? '', terms),
          labels: labels.map((l) => ({ label: l.label, score: Math.round(l.score * 1000) / 1000 })),
        },
      ];
    }),
  );
}

const CHAT_TITLES = {
  name: 'search-chat-titles',
  text: `SELECT c.id::text AS id, c.kind, c.name,
    (SELECT u.display_name FROM chat_members o JOIN users u ON u.id = o.user_id
     WHERE o.chat_id = c.id AND o.user_id <> $2::uuid LIMIT 1) AS peer
  FROM chats c WHERE c.id = ANY($1::uuid[])`,
};
