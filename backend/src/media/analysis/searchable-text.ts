/**
 * What search matches in a picture: the lines read, the labels, and for words OCR read
 * with a digit in place of a look-alike letter ("Err0r", "EC0NNREFUSED") the same word with
 * the letter, so "error" and "econnrefused" find them. Numbers ("127.0.0.1:5432") and
 * words without such a digit are kept as they are; the database then lower-cases and
 * strips accents (parley_search_text), as for messages.
 */
const LOOK_ALIKES: Record<string, string> = { '0': 'o', '1': 'l', '5': 's', '8': 'b' };

/** A word with letters and a look-alike digit, read as letters; null when there is none. */
export function asLetters(word: string): string | null {
  if (!/\p{L}/u.test(word) || !/[0158]/.test(word)) return null;
  // Only digits between or next to letters: "v1.2" and "2026-117" stay numbers.
  const letters = word.replace(/(?<=\p{L})[0158]|[0158](?=\p{L})/gu, (d) => LOOK_ALIKES[d]!);
  return letters === word ? null : letters;
}

export function searchableText(lines: readonly string[], labels: readonly string[]): string {
  const variants = lines.flatMap((line) => line.split(/[^\p{L}\p{N}]+/u)).flatMap((w) => asLetters(w) ?? []);
  return [...lines, ...labels, ...variants].join('\n');
}
