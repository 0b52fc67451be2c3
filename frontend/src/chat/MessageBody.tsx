/**
 * Message text as a safe markdown subset: paragraphs, bold, italic, inline code, links and
 * line breaks. Everything else is unwrapped to its text; raw HTML stays literal text (no
 * rehype-raw, never dangerouslySetInnerHTML); links keep only http, https and mailto.
 */
import { memo } from 'react';
import Markdown, { type Components } from 'react-markdown';
import remarkGfm from 'remark-gfm';

const allowedElements = ['p', 'strong', 'em', 'code', 'a', 'br'];
const remarkPlugins = [remarkGfm];

export function safeUrl(url: string): string | null {
  const trimmed = url.trim();
  return /^(https?:|mailto:)/i.test(trimmed) ? trimmed : null;
}

const components: Components = {
  a: ({ href, children }) =>
    href ? (
      <a href={href} target="_blank" rel="noopener noreferrer nofollow">
        {children}
      </a>
    ) : (
      <span>{children}</span>
    ),
};

export const MessageBody = memo(function MessageBody({ text }: { text: string }) {
  return (
    <div className="message-body" data-testid="message-body">
      <Markdown
        remarkPlugins={remarkPlugins}
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
