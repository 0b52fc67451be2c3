import { describe, expect, it } from 'vitest';
import { plainText } from './plain-text';

describe('plainText', () => {
  it('drops the markdown of bold, italic, code and links, and keeps their text', () => {
    expect(plainText('Hello **Bob**, see [the docs](https://example.com) and `npm test`')).toBe(
      'Hello Bob, see the docs and npm test',
    );
    expect(plainText('_really_ *sure*')).toBe('really sure');
  });

  it('leaves text that only looks like markdown as written', () => {
    expect(plainText('2 * 3 * 4 = 24')).toBe('2 * 3 * 4 = 24');
    expect(plainText('snake_case_name')).toBe('snake_case_name');
  });

  it('is one line', () => {
    expect(plainText('first line\nsecond line\n\nnext paragraph')).toBe(
      'first line second line next paragraph',
    );
  });
});
