/**
 * Message markdown as the plain text one line shows (chat-list previews, reply quotes):
 * `**bold**` → "bold", `[docs](https://…)` → "docs", `` `code` `` → "code". Parsed, not
 * pattern-replaced, so "2 * 3 * 4" stays as written.
 */
import { fromMarkdown } from 'mdast-util-from-markdown';
import { toString } from 'mdast-util-to-string';

/** Long previews are cut by the server; this only has to stay cheap for a list of chats. */
const cache = new Map<string, string>();
const CACHE_MAX = 500;

export function plainText(markdown: string): string {
  const hit = cache.get(markdown);
  if (hit !== undefined) return hit;
  let text: string;
  try {
    const tree = fromMarkdown(markdown);
    // Paragraphs and line breaks become spaces: a preview is one line.
    text = tree.children
      .map((node) => toString(node, { includeImageAlt: true }))
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
  } catch {
    text = markdown;
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(markdown, text);
  return text;
}
