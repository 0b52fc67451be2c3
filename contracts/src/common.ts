import { z } from 'zod';

export const uuid = z.string().uuid();
/** ISO-8601 UTC timestamp, e.g. 2026-11-21T06:34:49.000Z */
export const isoDateTime = z.string().datetime();

/**
 * Matches a string with no NUL character and no lone UTF-16 surrogate (invalid Unicode that
 * JSON.parse lets through as `"\ud800"`). PostgreSQL stores neither: such input must be a
 * 400 at the edge, never a 500 from the database. One linear scan (no nested repetition).
 */
export const WELL_FORMED_TEXT =
  /^(?![\s\S]*(?:\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]))/;
export const WELL_FORMED_MESSAGE = 'Must not contain NUL characters or invalid Unicode.';

/**
 * Every string a client sends starts here (the contract test checks that each one refuses
 * NUL and invalid Unicode, and has a maximum length).
 */
export const text = () => z.string().regex(WELL_FORMED_TEXT, WELL_FORMED_MESSAGE);

/**
 * Names people see (display names, group names): see specs/security.md.
 * - Invisible characters that only serve to spoof are stripped: zero-width space, word
 *   joiner and invisible operators, the byte-order mark, soft hyphen, Mongolian vowel
 *   separator, and the bidi marks LRM, RLM and ALM.
 * - Bidi embedding, override and isolate controls (U+202A–202E, U+2066–2069), which can
 *   make a name read backwards ("‮gnp.exe"), and control characters (tabs, newlines) are
 *   refused.
 * - Zero-width joiner and non-joiner stay (emoji sequences, Persian and Indic scripts need
 *   them), but a name must have at least one visible character.
 */
export const NAME_STRIPPED = /[\u00AD\u061C\u180E\u200B\u200E\u200F\u2060-\u2064\uFEFF]/g;
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
export const NAME_REFUSED = /^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$/;
const VISIBLE = /[^\s\u200C\u200D]/;

export function nameSchema(opts: { max: number; required: string }) {
  const tooLong = `Use at most ${opts.max} characters.`;
  return text()
    .max(opts.max * 2, tooLong)
    .transform((v) => v.replace(NAME_STRIPPED, ''))
    .pipe(
      z
        .string()
        .trim()
        .min(1, opts.required)
        .max(opts.max, tooLong)
        .regex(NAME_REFUSED, 'Must not contain control characters or bidirectional-override characters.')
        .regex(VISIBLE, opts.required),
    );
}
