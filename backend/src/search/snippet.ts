/**
 * Snippets: a window of a message's plain text around its first match, with the ranges to
 * highlight. Text and ranges only, never markup: the client renders the text as text.
 * Matching: findSearchMatches in @parley/contracts (the app marks opened messages the same way).
 */
import { findSearchMatches, type SearchSnippet } from '@parley/contracts';

export const SNIPPET_LENGTH = 180;
/** Text shown before the first match when the message is cut. */
const LEAD = 50;

/** Moves an index off the second half of a surrogate pair. */
function safeIndex(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code >= 0xdc00 && code <= 0xdfff ? i - 1 : i;
}

/**
 * `matchIn`: where to look for the terms instead of `body`, of the same length (text read in
 * a picture, with OCR's digit-for-letter slips read as letters).
 */
export function buildSnippet(body: string, terms: readonly string[], matchIn = body): SearchSnippet {
  const matches = findSearchMatches(matchIn.length === body.length ? matchIn : body, terms);
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
