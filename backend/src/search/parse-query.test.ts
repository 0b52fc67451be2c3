import { describe, expect, it } from '@jest/globals';
import { isEmptyQuery, MAX_TERMS, parseDay, parseQuery } from './parse-query.js';

const words = (...t: string[]) => t.map((text) => ({ kind: 'word', text }));

describe('parseQuery', () => {
  it('reads words, trimming punctuation at their ends but not inside', () => {
    const p = parseQuery('  Deploy, the kubernetes-operator!  #general ');
    expect(p.include).toEqual(words('Deploy', 'the', 'kubernetes-operator', 'general'));
    expect(p.exclude).toEqual([]);
  });

  it('reads "exact phrases", collapsing spaces, and a one-word phrase', () => {
    const p = parseQuery('"deploy  to   prod" later "cafe"');
    expect(p.include).toEqual([
      { kind: 'phrase', text: 'deploy to prod' },
      { kind: 'word', text: 'later' },
      { kind: 'phrase', text: 'cafe' },
    ]);
  });

  it('reads -exclusions of words and phrases; a lone dash or a dash inside a word is text', () => {
    const p = parseQuery('release -staging -"dry run" - well-known');
    expect(p.include).toEqual(words('release', 'well-known'));
    expect(p.exclude).toEqual([
      { kind: 'word', text: 'staging' },
      { kind: 'phrase', text: 'dry run' },
    ]);
  });

  it('reads prefix*, and a bare or leading star as nothing special', () => {
    const p = parseQuery('depl* * *ops');
    expect(p.include).toEqual([
      { kind: 'prefix', text: 'depl' },
      { kind: 'word', text: 'ops' },
    ]);
  });

  it('reads from: with or without @, lower-cased, and from:me', () => {
    const p = parseQuery('from:@Alice_1 from:bob.s from:me from:@alice_1');
    expect(p.from).toEqual(['alice_1', 'bob.s', 'me']);
    expect(p.include).toEqual([]);
  });

  it('reads in: with a name, an id or a "quoted name"', () => {
    const p = parseQuery('in:general in:"Team  Alpha" in:6f1c1f3e-8a44-4b52-9a0e-4f0f5c1d2e3a hello');
    expect(p.in).toEqual(['general', 'Team Alpha', '6f1c1f3e-8a44-4b52-9a0e-4f0f5c1d2e3a']);
    expect(p.include).toEqual(words('hello'));
  });

  it('reads has: and is:unread; other values are text', () => {
    const p = parseQuery('has:link HAS:Mention has:reaction has:image has:file has:cake is:unread is:sad');
    expect(p.has).toEqual(['link', 'mention', 'reaction', 'image', 'file']);
    expect(p.unread).toBe(true);
    expect(p.include).toEqual(words('has:cake', 'is:sad'));
  });

  it('reads before:, after: and on: as UTC day bounds', () => {
    expect(parseQuery('before:2026-03-10').before).toEqual(new Date('2026-03-10T00:00:00Z'));
    expect(parseQuery('after:2026-03-10').after).toEqual(new Date('2026-03-11T00:00:00Z'));
    const on = parseQuery('on:2026-02-28');
    expect(on.after).toEqual(new Date('2026-02-28T00:00:00Z'));
    expect(on.before).toEqual(new Date('2026-03-01T00:00:00Z'));
    // The tighter bound wins when there are several.
    const both = parseQuery('after:2026-01-01 after:2026-02-01 before:2026-06-01 before:2026-05-01');
    expect(both.after).toEqual(new Date('2026-02-02T00:00:00Z'));
    expect(both.before).toEqual(new Date('2026-05-01T00:00:00Z'));
    expect(parseQuery('before:2026-03-10T12:30:00Z').before).toEqual(new Date('2026-03-10T12:30:00Z'));
  });

  it('reads invalid dates and unknown operators as plain text', () => {
    const p = parseQuery('before:2026-02-30 on:yesterday after: foo:bar https://example.com/x');
    expect(p.before).toBeNull();
    expect(p.after).toBeNull();
    expect(p.include).toEqual(
      words('before:2026-02-30', 'on:yesterday', 'after', 'foo:bar', 'https://example.com/x'),
    );
  });

  it('never fails on broken syntax: an unclosed quote is a phrase to the end', () => {
    const p = parseQuery('hello "unclosed phrase in:"never closed');
    expect(p.include).toEqual([
      { kind: 'word', text: 'hello' },
      { kind: 'phrase', text: 'unclosed phrase in:' },
      { kind: 'word', text: 'never' },
      { kind: 'word', text: 'closed' },
    ]);
    expect(parseQuery('in:"never closed').in).toEqual(['never closed']);
    for (const q of ['"', '""', '-', '--', '-""', '***', ':::', 'from:', 'in:""', '\u0000\u202e', '"-"']) {
      const parsed = parseQuery(q);
      expect(parsed.include.every((t) => /[\p{L}\p{N}]/u.test(t.text))).toBe(true);
    }
    expect(isEmptyQuery(parseQuery('" - * ::: "'))).toBe(true);
  });

  it('keeps CJK and accented text as typed (normalising is the database’s job)', () => {
    expect(parseQuery('上海 café').include).toEqual(words('上海', 'café'));
  });

  it('keeps at most MAX_TERMS terms and drops duplicates', () => {
    const many = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    expect(parseQuery(many).include).toHaveLength(MAX_TERMS);
    expect(parseQuery('a a "a" a').include).toEqual([
      { kind: 'word', text: 'a' },
      { kind: 'phrase', text: 'a' },
    ]);
  });

  it('knows an empty query from one with only operators', () => {
    expect(isEmptyQuery(parseQuery('   '))).toBe(true);
    expect(isEmptyQuery(parseQuery('from:@ana'))).toBe(false);
    expect(isEmptyQuery(parseQuery('-spam'))).toBe(false);
  });
});

describe('parseDay', () => {
  it('rejects impossible days and odd formats', () => {
    expect(parseDay('2026-13-01')).toBeNull();
    expect(parseDay('2026-1-1')).toBeNull();
    expect(parseDay('2026-02-29')).toBeNull();
    expect(parseDay('2024-02-29')).not.toBeNull();
    expect(parseDay('2026-03-10T25:00:00Z')).toBeNull();
  });
});
