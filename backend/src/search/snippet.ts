/**
 * Snippets: a window of a message's plain text around its first match, with the ranges to
 * highlight. Text and ranges only, never markup: the client renders the text as text.
 *
 * Matching here mirrors the database's normalisation (lower case, accents stripped,
 * runs of whitespace as one space) closely enough to find what to highlight; which
 * messages match is decided by the database alone.
 */
import type { HighlightRange, SearchSnippet } from '@parley/contracts';

export const SNIPPET_LENGTH = 180;
/** Text shown before the first match when the message is cut. */
const LEAD = 50;

/** One character's normal form: "É" → "e", "ß" → "ss" (length may change). */
function normaliseChar(ch: string): string {
  if (/\s/.test(ch)) return ' ';
  return ch.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/ß/g, 'ss');
}

/** The normalised text of a query term, as `normalised()` spells the message. */
export function normaliseTerm(term: string): string {
  let out = '';
  for (const ch of term) out += normaliseChar(ch);
  return out.replace(/ +/g, ' ').trim();
}

/** The normalised text and, per normalised UTF-16 unit, the original [start, end). */
function normalised(text: string): { norm: string; from: number[]; to: number[] } {
  let norm = '';
  const from: number[] = [];
  const to: number[] = [];
  let i = 0;
  for (const ch of text) {
    const n = normaliseChar(ch);
    const end = i + ch.length;
    // Runs of whitespace are one space, as in the database's search_text.
    if (!(n === ' ' && norm.endsWith(' '))) {
      for (let k = 0; k < n.length; k++) {
        norm += n[k];
        from.push(i);
        to.push(end);
      }
    } else {
      to[to.length - 1] = end;
    }
    i = end;
  }
  return { norm, from, to };
}

/** Every occurrence of every term in `text`, as merged, sorted ranges of the original. */
export function findMatches(text: string, terms: readonly string[]): HighlightRange[] {
  const { norm, from, to } = normalised(text);
  const ranges: HighlightRange[] = [];
  for (const term of terms) {
    const t = normaliseTerm(term);
    if (!t) continue;
    for (let at = norm.indexOf(t); at !== -1; at = norm.indexOf(t, at + t.length)) {
      ranges.push({ start: from[at]!, end: to[at + t.length - 1]! });
    }
  }
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: HighlightRange[] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}

/** Moves an index off the second half of a surrogate pair. */
function safeIndex(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code >= 0xdc00 && code <= 0xdfff ? i - 1 : i;
}

export function buildSnippet(body: string, terms: readonly string[]): SearchSnippet {
  const matches = findMatches(body, terms);
  if (body.length <= SNIPPET_LENGTH) return { text: body, highlights: matches };
  const first = matches[0]?.start ?? 0;
  let start = safeIndex(body, Math.max(0, Math.min(first - LEAD, body.length - SNIPPET_LENGTH)));
  // Start at a word boundary when one is near.
  if (start > 0) {
    const space = body.slice(start, Math.min(first, start + 20)).search(/\s/);
    if (space !== -1) start += space + 1;
  }
  const end = safeIndex(body, Math.min(body.length, start + SNIPPET_LENGTH));
  const prefix = start > 0 ? '…' : '';
  const suffix = end < body.length ? '…' : '';
  const shift = prefix.length - start;
  const highlights = matches
    .filter((r) => r.end > start && r.start < end)
    .map((r) => ({ start: Math.max(r.start, start) + shift, end: Math.min(r.end, end) + shift }));
  return { text: prefix + body.slice(start, end) + suffix, highlights };
}
