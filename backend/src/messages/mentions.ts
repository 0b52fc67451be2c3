/** `@username` in a text names a member of the chat; others are left as plain text. */
import { MENTION_PATTERN } from '@parley/contracts';
import type { Db } from '../chats/access.js';

export function mentionedUsernames(body: string): string[] {
  const names = new Set<string>();
  for (const match of body.matchAll(MENTION_PATTERN)) {
    const name = match[2]!;
    names.add(name);
    // "@ben." at the end of a sentence: the dot is punctuation unless a user has it.
    const trimmed = name.replace(/\.+$/, '');
    if (trimmed.length >= 3) names.add(trimmed);
  }
  return [...names];
}

/** Ids of the chat's members named in the text. */
export async function resolveMentions(db: Db, chatId: string, body: string): Promise<string[]> {
  const usernames = mentionedUsernames(body);
  if (usernames.length === 0) return [];
  const rows = await db.chatMember.findMany({
    where: { chatId, user: { username: { in: usernames } } },
    select: { userId: true },
  });
  return rows.map((r) => r.userId);
}
