import { render, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { describe, expect, it } from 'vitest';
import { BOB, CAROL } from '../test/chat-fixtures';
import { MessageBody } from './MessageBody';

function body(text: string, mentions?: Record<string, string>): HTMLElement {
  const { container } = render(
    <MemoryRouter>
      <MessageBody text={text} {...(mentions ? { mentions } : {})} />
    </MemoryRouter>,
  );
  return within(container).getByTestId('message-body');
}

describe('message body markdown', () => {
  it('renders bold, italic, inline code and links', () => {
    const el = body('**bold** and *italic* and `x < y` and [docs](https://example.com/a?b=1)');
    expect(el.querySelector('strong')).toHaveTextContent('bold');
    expect(el.querySelector('em')).toHaveTextContent('italic');
    expect(el.querySelector('code')).toHaveTextContent('x < y');
    const link = el.querySelector('a');
    expect(link).toHaveAttribute('href', 'https://example.com/a?b=1');
    expect(link).toHaveAttribute('target', '_blank');
    expect(link).toHaveAttribute('rel', 'noopener noreferrer nofollow');
    expect(link).toHaveTextContent('docs');
  });

  it('keeps mailto links and autolinks web addresses', () => {
    const el = body('write to [me](mailto:ada@example.com) or see https://parley.example/x');
    const hrefs = [...el.querySelectorAll('a')].map((a) => a.getAttribute('href'));
    expect(hrefs).toEqual(['mailto:ada@example.com', 'https://parley.example/x']);
  });

  it('renders raw HTML as text, never as elements', () => {
    const el = body('<script>alert(1)</script> <img src=x onerror="alert(2)"> <b onclick="x()">hi</b>');
    expect(el.querySelector('script, img, b, iframe')).toBeNull();
    expect(el.innerHTML).not.toMatch(/<(script|img|b)\b/i);
    expect(el.querySelectorAll('[onerror], [onclick]')).toHaveLength(0);
    expect(el).toHaveTextContent('<script>alert(1)</script>');
  });

  it('drops javascript:, data: and other schemes from links', () => {
    const el = body(
      '[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html;base64,PHNjcmlwdD4=) [d](vbscript:x) [e](/relative)',
    );
    expect(el.querySelectorAll('a')).toHaveLength(0);
    expect(el.innerHTML).not.toMatch(/javascript:|data:|vbscript:/i);
    expect(el).toHaveTextContent('a b c d e');
  });

  it('unwraps everything outside the subset: images, headings, lists, tables', () => {
    const el = body(
      '# Title\n\n![alt](https://example.com/x.png)\n\n- one\n- two\n\n| a |\n|---|\n| b |\n\n> quote',
    );
    expect(el.querySelector('img, h1, ul, li, table, blockquote')).toBeNull();
    expect(el).toHaveTextContent('Title');
    expect(el).toHaveTextContent('one');
    const tags = new Set([...el.querySelectorAll('*')].map((n) => n.tagName.toLowerCase()));
    for (const tag of tags) expect(['p', 'strong', 'em', 'code', 'a', 'br']).toContain(tag);
  });
});

describe('mentions', () => {
  const mentions = { bob: BOB, carol: CAROL };

  it('links @username of a mentioned member to their profile, inside the markdown', () => {
    const el = body('hi @bob and **@carol**, not @dave, mail bob@example.com', mentions);
    const links = [...el.querySelectorAll('[data-testid="mention"]')];
    expect(links.map((a) => [a.textContent, a.getAttribute('href'), a.getAttribute('data-user-id')])).toEqual(
      [
        ['@bob', `/users/${BOB}`, BOB],
        ['@carol', `/users/${CAROL}`, CAROL],
      ],
    );
    expect(links[1]!.parentElement?.tagName).toBe('STRONG');
    expect(el).toHaveTextContent('hi @bob and @carol, not @dave, mail bob@example.com');
    // An e-mail address is not a mention (GFM makes it a mailto link); an unknown name stays text.
    expect([...el.querySelectorAll('a')].map((a) => a.getAttribute('href'))).toEqual([
      `/users/${BOB}`,
      `/users/${CAROL}`,
      'mailto:bob@example.com',
    ]);
  });

  it('leaves @names alone without mentions, in code, and inside links', () => {
    expect(body('hello @bob').querySelector('a')).toBeNull();
    const el = body('`@bob` and [ask @carol](https://example.com)', mentions);
    expect(el.querySelector('[data-testid="mention"]')).toBeNull();
    expect(el.querySelector('code')).toHaveTextContent('@bob');
    expect(el.querySelector('a')).toHaveAttribute('href', 'https://example.com');
  });

  it('never turns a mention into raw HTML, and a user cannot forge one', () => {
    const el = body(
      '@bob<img src=x onerror=alert(1)> <a data-mention-id="x" href="javascript:alert(1)">@carol</a> [@bob](/users/evil)',
      mentions,
    );
    expect(el.querySelector('img, script')).toBeNull();
    expect(el.querySelectorAll('[onerror], [onclick]')).toHaveLength(0);
    expect(el.innerHTML).not.toMatch(/<img|<a data-mention-id/i);
    expect(el.querySelectorAll('[href^="javascript"], [href="/users/evil"]')).toHaveLength(0);
    const links = [...el.querySelectorAll('a')];
    // Only the real mentions link; the markdown link to a relative path is dropped.
    expect(links.every((a) => a.getAttribute('data-testid') === 'mention')).toBe(true);
    expect(links.map((a) => a.getAttribute('href'))).toEqual([`/users/${BOB}`, `/users/${CAROL}`]);
    expect(el).toHaveTextContent('<img src=x onerror=alert(1)>');
  });
});
