/**
 * The search query language, parsed into what the SQL builder needs. Pure: no I/O.
 *
 *   words            every word must occur (as a word, a word's start, or inside one)
 *   "exact phrase"   these words in this order
 *   -word -"phrase"  must not occur
 *   prefix*          a word starting with "prefix"
 *   from:@username   sent by that user (from:me: by the caller); several = any of them
 *   in:<chat>        in the chat with this id, group name or, for a direct chat, the other
 *                    person's @username or display name; in:"Two words"; several = any
 *   has:link|image|file|reaction|mention
 *   is:unread        after the caller's read position, not sent by them
 *   before:/after:/on:<YYYY-MM-DD or ISO date-time>   (days in UTC; before/after exclusive)
 *
 * Nothing here ever fails: an unknown operator, an operator without a valid value, a stray
 * quote or dash is read as plain text (or dropped when it holds no text at all).
 */

export type HasFilter = 'link' | 'image' | 'file' | 'reaction' | 'mention';

export interface TextTerm {
  /** word: anywhere in the text; prefix: at the start of a word; phrase: these words in order. */
  kind: 'word' | 'prefix' | 'phrase';
  text: string;
}

export interface ParsedQuery {
  include: TextTerm[];
  exclude: TextTerm[];
  /** Usernames without "@", lower-cased; "me" stands for the caller. */
  from: string[];
  /** Chat ids, group names or @usernames / display names, as typed (trimmed). */
  in: string[];
  has: HasFilter[];
  unread: boolean;
  /** created_at < before */
  before: Date | null;
  /** created_at >= after */
  after: Date | null;
}

/** More terms than this are ignored: each one is a condition in the query. */
export const MAX_TERMS = 12;
export const MAX_OPERATOR_VALUES = 10;

const HAS_VALUES = new Set<HasFilter>(['link', 'image', 'file', 'reaction', 'mention']);
const DAY_MS = 86_400_000;

interface Token {
  negated: boolean;
  /** Quoted as a whole ("..."). */
  quoted: boolean;
  /** For op:value tokens. */
  op: string | null;
  value: string;
  /** The token as typed, for when an operator turns out to be text. */
  raw: string;
}

/** Splits on whitespace, keeping "quoted strings" and op:"quoted values" together. */
function tokenize(q: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = q.length;
  while (i < n) {
    while (i < n && /\s/.test(q[i]!)) i++;
    if (i >= n) break;
    const start = i;
    let negated = false;
    if (q[i] === '-' && i + 1 < n && !/\s/.test(q[i + 1]!)) {
      negated = true;
      i++;
    }
    if (q[i] === '"') {
      const close = q.indexOf('"', i + 1);
      const end = close === -1 ? n : close;
      const value = q.slice(i + 1, end);
      i = close === -1 ? n : close + 1;
      tokens.push({ negated, quoted: true, op: null, value, raw: q.slice(start, i) });
      continue;
    }
    // A bare token; an operator value may be quoted: in:"Team Alpha".
    const opMatch = /^([A-Za-z]+):"/.exec(q.slice(i));
    if (opMatch) {
      const valueStart = i + opMatch[0].length;
      const close = q.indexOf('"', valueStart);
      const end = close === -1 ? n : close;
      const value = q.slice(valueStart, end);
      i = close === -1 ? n : close + 1;
      tokens.push({ negated, quoted: false, op: opMatch[1]!.toLowerCase(), value, raw: q.slice(start, i) });
      continue;
    }
    while (i < n && !/\s/.test(q[i]!)) i++;
    const word = q.slice(negated ? start + 1 : start, i);
    const colon = word.indexOf(':');
    const op =
      colon > 0 && /^[A-Za-z]+$/.test(word.slice(0, colon)) ? word.slice(0, colon).toLowerCase() : null;
    tokens.push({
      negated,
      quoted: false,
      op,
      value: op ? word.slice(colon + 1) : word,
      raw: q.slice(start, i),
    });
  }
  return tokens;
}

/** Letters, digits and the marks that belong to them. */
const WORDISH = /[\p{L}\p{N}]/u;
/** Drops punctuation at both ends ("hello," → "hello", "#general" → "general"). */
function trimPunctuation(s: string): string {
  return s.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
}

/** YYYY-MM-DD (a UTC day) or a full ISO date-time; null when it is neither or not a real date. */
export function parseDay(value: string): { start: Date; end: Date } | null {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (day) {
    const [y, m, d] = [Number(day[1]), Number(day[2]), Number(day[3])];
    const start = new Date(Date.UTC(y, m - 1, d));
    if (start.getUTCFullYear() !== y || start.getUTCMonth() !== m - 1 || start.getUTCDate() !== d)
      return null;
    return { start, end: new Date(start.getTime() + DAY_MS) };
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) return null;
    return { start: at, end: at };
  }
  return null;
}

const USERNAME = /^@?([a-z0-9_.]{2,32})$/i;
const later = (a: Date | null, b: Date) => (a && a > b ? a : b);
const earlier = (a: Date | null, b: Date) => (a && a < b ? a : b);

export function parseQuery(q: string): ParsedQuery {
  const out: ParsedQuery = {
    include: [],
    exclude: [],
    from: [],
    in: [],
    has: [],
    unread: false,
    before: null,
    after: null,
  };
  const addText = (term: TextTerm, negated: boolean) => {
    const list = negated ? out.exclude : out.include;
    if (list.length >= MAX_TERMS) return;
    if (!WORDISH.test(term.text)) return; // nothing searchable in it
    if (list.some((t) => t.kind === term.kind && t.text === term.text)) return;
    list.push(term);
  };
  const addWord = (raw: string, negated: boolean) => {
    const prefix = /[^*]\*+$/.test(raw) && !/^\*/.test(raw);
    const text = trimPunctuation(raw);
    if (text) addText({ kind: prefix ? 'prefix' : 'word', text }, negated);
  };

  for (const token of tokenize(q)) {
    if (token.quoted) {
      const text = token.value.trim().replace(/\s+/g, ' ');
      // A one-word phrase is that exact word.
      if (text) addText({ kind: 'phrase', text }, token.negated);
      continue;
    }
    const value = token.value.trim();
    if (token.op && !token.negated && value && applyOperator(out, token.op, value)) continue;
    // Not an operator after all: the token as typed is text.
    addWord(token.negated ? token.raw.slice(1) : token.raw, token.negated);
  }
  return out;
}

/** true when the token was a valid operator and went into `out`. */
function applyOperator(out: ParsedQuery, op: string, value: string): boolean {
  switch (op) {
    case 'from': {
      const m = USERNAME.exec(value);
      if (!m) return false;
      const name = m[1]!.toLowerCase();
      if (out.from.length < MAX_OPERATOR_VALUES && !out.from.includes(name)) out.from.push(name);
      return true;
    }
    case 'in': {
      const name = value.replace(/\s+/g, ' ').slice(0, 100);
      if (out.in.length < MAX_OPERATOR_VALUES && !out.in.includes(name)) out.in.push(name);
      return true;
    }
    case 'has': {
      const v = value.toLowerCase() as HasFilter;
      if (!HAS_VALUES.has(v)) return false;
      if (!out.has.includes(v)) out.has.push(v);
      return true;
    }
    case 'is':
      if (value.toLowerCase() !== 'unread') return false;
      out.unread = true;
      return true;
    case 'before':
    case 'after':
    case 'on': {
      const day = parseDay(value);
      if (!day) return false;
      if (op === 'before') out.before = earlier(out.before, day.start);
      else if (op === 'after') out.after = later(out.after, day.end);
      else {
        out.after = later(out.after, day.start);
        out.before = earlier(
          out.before,
          day.end.getTime() === day.start.getTime() ? new Date(day.start.getTime() + 1) : day.end,
        );
      }
      return true;
    }
    default:
      return false;
  }
}

/** Whether the query asks for anything at all. */
export function isEmptyQuery(p: ParsedQuery): boolean {
  return (
    p.include.length === 0 &&
    p.exclude.length === 0 &&
    p.from.length === 0 &&
    p.in.length === 0 &&
    p.has.length === 0 &&
    !p.unread &&
    p.before === null &&
    p.after === null
  );
}
