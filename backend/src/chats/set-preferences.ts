/** A member's own settings for a chat; their other devices hear of the change. */
import type { ChatPreferences, UpdatePreferencesInput } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../events/outbox.js';
import { requireMembership } from './access.js';
import { MUTED_FOREVER, presentPreferences } from './chat-views.js';

export async function setPreferences(
  ctx: AppContext,
  userId: string,
  chatId: string,
  changes: UpdatePreferencesInput,
): Promise<ChatPreferences> {
  return inTransaction(ctx, async (tx, emit) => {
    await requireMembership(tx, chatId, userId);
    const row = await tx.chatMember.update({
      where: { chatId_userId: { chatId, userId } },
      data: {
        ...(changes.archived !== undefined ? { archived: changes.archived } : {}),
        ...(changes.mutedUntil !== undefined
          ? {
              mutedUntil:
                changes.mutedUntil === null
                  ? null
                  : changes.mutedUntil === 'forever'
                    ? MUTED_FOREVER
                    : new Date(changes.mutedUntil),
            }
          : {}),
        ...(changes.notify !== undefined ? { notify: changes.notify } : {}),
      },
    });
    const preferences = presentPreferences(row.archived, row.mutedUntil, row.notify);
    emit.toUsers([userId], { type: 'chat:preferences', data: { chatId, preferences } });
    return preferences;
  });
}
