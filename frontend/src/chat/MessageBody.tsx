/**
 * Message text as a safe markdown subset: paragraphs, bold, italic, inline code, links and
 * line breaks. Everything else is unwrapped to its text; raw HTML stays literal text (no
 * rehype-raw, never dangerouslySetInnerHTML); links keep only http, https and mailto.
 *
 * `@username` becomes a link to that person's profile when the server listed them in the
 * message's mentions: a syntax-tree step turns the text into a mention node, which only
 * this code can create (markdown written by a user cannot produce one).
 */
import { findSearchMatches, MENTION_PATTERN } from '@parley/contracts';
import { memo, useMemo } from 'react';
import Markdown, { type Components, type Options } from 'react-markdown';
import { Link } from 'react-router-dom';
import remarkGfm from 'remark-gfm';

const allowedElements = ['p', 'strong', 'em', 'code', 'a', 'br', 'mark'];

export function safeUrl(url: string): string | null {
  const trimmed = url.trim();
  return /^(https?:|mailto:)/i.test(trimmed) ? trimmed : null;
}

/** The little of mdast this step touches. */
interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
  data?: { hName?: string; hProperties?: Record<string, unknown> };
}

/** Inside these, text stays text (no links in links, nothing inside code). */
const SKIP = new Set(['link', 'linkReference', 'inlineCode', 'code', 'definition']);

/** Splits one text value at the mentions of known usernames. */
export function splitMentions(value: string, mentions: Record<string, string>): MdNode[] | null {
  const pattern = new RegExp(MENTION_PATTERN.source, 'g');
  const out: MdNode[] = [];
  let last = 0;
  for (const match of value.matchAll(pattern)) {
    const username = match[2] ?? '';
    const userId = mentions[username];
    if (!userId) continue;
    const at = (match.index ?? 0) + (match[1] ?? '').length;
    if (at > last) out.push({ type: 'text', value: value.slice(last, at) });
    out.push({
      type: 'mention',
      data: { hName: 'a', hProperties: { dataMentionId: userId } },
      children: [{ type: 'text', value: `@${username}` }],
    });
    last = at + 1 + username.length;
  }
  if (out.length === 0) return null;
  if (last < value.length) out.push({ type: 'text', value: value.slice(last) });
  return out;
}

function remarkMentions(options: { mentions: Record<string, string> }) {
  const walk = (node: MdNode) => {
    if (!node.children || SKIP.has(node.type)) return;
    const next: MdNode[] = [];
    for (const child of node.children) {
      const parts =
        child.type === 'text' && child.value ? splitMentions(child.value, options.mentions) : null;
      if (parts) next.push(...parts);
      else {
        walk(child);
        next.push(child);
      }
    }
    node.children = next;
  };
  return (tree: MdNode) => walk(tree);
}

/** Splits one text value at the search terms' matches (an opened search result). */
export function splitMarks(value: string, terms: readonly string[]): MdNode[] | null {
  const ranges = findSearchMatches(value, terms);
  if (ranges.length === 0) return null;
  const out: MdNode[] = [];
  let last = 0;
  for (const r of ranges) {
    if (r.start > last) out.push({ type: 'text', value: value.slice(last, r.start) });
    out.push({
      type: 'searchMark',
      data: { hName: 'mark', hProperties: { className: 'search-mark' } },
      children: [{ type: 'text', value: value.slice(r.start, r.end) }],
    });
    last = r.end;
  }
  if (last < value.length) out.push({ type: 'text', value: value.slice(last) });
  return out;
}

function remarkMarks(options: { terms: readonly string[] }) {
  const walk = (node: MdNode) => {
    if (!node.children || node.type === 'searchMark') return;
    const next: MdNode[] = [];
    for (const child of node.children) {
      const parts = child.type === 'text' && child.value ? splitMarks(child.value, options.terms) : null;
      if (parts) next.push(...parts);
      else {
        walk(child);
        next.push(child);
      }
    }
    node.children = next;
  };
  return (tree: MdNode) => walk(tree);
}

const components: Components = {
  a: ({ href, children, node }) => {
    const mentionId = node?.properties?.['dataMentionId'];
    if (typeof mentionId === 'string') {
      return (
        <Link to={`/users/${mentionId}`} className="mention" data-testid="mention" data-user-id={mentionId}>
          {children}
        </Link>
      );
    }
    return href ? (
      <a href={href} target="_blank" rel="noopener noreferrer nofollow">
        {children}
      </a>
    ) : (
      <span>{children}</span>
    );
  },
};

const NO_MENTIONS: Record<string, string> = {};
const NO_MARKS: readonly string[] = [];

export const MessageBody = memo(function MessageBody({
  text,
  mentions = NO_MENTIONS,
  marks = NO_MARKS,
}: {
  text: string;
  /** username → user id of the people this message mentions. */
  mentions?: Record<string, string>;
  /** Search terms to mark (the message was opened from a search result). */
  marks?: readonly string[];
}) {
  const plugins = useMemo<NonNullable<Options['remarkPlugins']>>(() => {
    const list: NonNullable<Options['remarkPlugins']> = [remarkGfm];
    if (Object.keys(mentions).length) list.push([remarkMentions, { mentions }]);
    if (marks.length) list.push([remarkMarks, { terms: marks }]);
    return list;
  }, [mentions, marks]);
  return (
    <div className="message-body" data-testid="message-body">
      <Markdown
        remarkPlugins={plugins}
        allowedElements={allowedElements}
        unwrapDisallowed
        urlTransform={safeUrl}
        components={components}
      >
        {text}
      </Markdown>
    </div>
  );
});
