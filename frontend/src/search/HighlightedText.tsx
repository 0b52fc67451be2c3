import type { HighlightRange } from '@parley/contracts';

/** Plain text with <mark>s over the given ranges; React escapes the text. */
export function HighlightedText({ text, ranges }: { text: string; ranges: HighlightRange[] }) {
  const parts: React.ReactNode[] = [];
  let at = 0;
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    const start = Math.max(r.start, at);
    const end = Math.min(r.end, text.length);
    if (end <= start) continue;
    if (start > at) parts.push(text.slice(at, start));
    parts.push(<mark key={start}>{text.slice(start, end)}</mark>);
    at = end;
  }
  if (at < text.length) parts.push(text.slice(at));
  return <>{parts}</>;
}
