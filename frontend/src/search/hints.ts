/** Operator hints for the search field: what the word being typed could become. */

export interface OperatorHint {
  insert: string;
  label: string;
}

export const OPERATOR_HINTS: OperatorHint[] = [
  { insert: 'from:@', label: 'from:@person — sent by someone' },
  { insert: 'in:', label: 'in:chat — in one chat' },
  { insert: 'has:link', label: 'has:link, has:mention, has:reaction' },
  { insert: 'is:unread', label: 'is:unread — not read yet' },
  { insert: 'after:', label: 'before:/after:/on:YYYY-MM-DD — by date' },
  { insert: '"', label: '"exact phrase", -exclude, prefix*' },
];

/** The word the caret is in (the last one), and where it starts. */
export function currentToken(query: string): { token: string; start: number } {
  const m = /(\S*)$/.exec(query);
  const token = m?.[1] ?? '';
  return { token, start: query.length - token.length };
}

/** from:… or in:… being typed: which operator, and the text typed after it so far. */
export function operatorBeingTyped(query: string): { op: 'from' | 'in'; partial: string } | null {
  const { token } = currentToken(query);
  const m = /^(from|in):(.*)$/i.exec(token);
  if (!m) return null;
  return { op: m[1]!.toLowerCase() as 'from' | 'in', partial: m[2]!.replace(/^["@]/, '') };
}

/** Replaces the word being typed with `value` and a space. */
export function replaceToken(query: string, value: string): string {
  const { start } = currentToken(query);
  return `${query.slice(0, start)}${value} `;
}
