/**
 * Finding search terms in a message's text, for highlighting: the server's snippets and
 * the app's marks in an opened message use the same rules. It mirrors the database's
 * normalisation (lower case, accents stripped, runs of whitespace as one space) closely
 * enough to find what to highlight; which messages match is decided by the database alone.
 */
export interface TextRange {
  start: number;
  end: number;
}

/** One character's normal form: "É" → "e", "ß" → "ss" (length may change). */
function normaliseChar(ch: string): string {
  if (/\s/.test(ch)) return ' ';
  return ch.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/ß/g, 'ss');
}

/** The normalised text of a query term, as `normalised()` spells the message. */
export function normaliseSearchTerm(term: string): string {
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
export function findSearchMatches(text: string, terms: readonly string[]): TextRange[] {
  const { norm, from, to } = normalised(text);
  const ranges: TextRange[] = [];
  for (const term of terms) {
    const t = normaliseSearchTerm(term);
    if (!t) continue;
    for (let at = norm.indexOf(t); at !== -1; at = norm.indexOf(t, at + t.length)) {
      ranges.push({ start: from[at]!, end: to[at + t.length - 1]! });
    }
  }
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: TextRange[] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}
