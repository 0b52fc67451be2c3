/**
 * Who may see an upload: its uploader until it is attached; afterwards the members of the
 * chat it was shared in, as long as they can see the message (not deleted for everyone,
 * not expired, not hidden or cleared for them). Everyone else — strangers, removed
 * members, random ids — gets the same 404. One query, used by every media read.
 */
import type { Db } from '../chats/access.js';
import type { Media as MediaRow } from '../infra/db/generated/client.js';

/** The visible ones among `ids`, with their message's seq. */
export async function visibleMedia(
  db: Db,
  ids: readonly string[],
  userId: string,
  now: Date,
): Promise<{ row: MediaRow; seq: number | null }[]> {
  if (ids.length === 0) return [];
  const visible = await db.$queryRawUnsafe<{ id: string; seq: number | null }[]>(
    VISIBLE,
    [...ids],
    userId,
    now,
  );
  if (visible.length === 0) return [];
  const rows = await db.media.findMany({ where: { id: { in: visible.map((v) => v.id) } } });
  const seqs = new Map(visible.map((v) => [v.id, v.seq]));
  const byId = new Map(rows.map((r) => [r.id, r]));
  // In the order asked.
  return ids.flatMap((id) => {
    const row = byId.get(id);
    return row ? [{ row, seq: seqs.get(id) ?? null }] : [];
  });
}

const VISIBLE = `
SELECT m.id::text AS id, msg.seq
FROM media m
LEFT JOIN messages msg ON msg.id = m.message_id
LEFT JOIN chat_members cm ON cm.chat_id = msg.chat_id AND cm.user_id = $2::uuid
WHERE m.id = ANY($1::uuid[]) AND m.deleted_at IS NULL AND m.status <> 'uploading' AND (
  (m.owner_id = $2::uuid AND m.attached_at IS NULL)
  OR (cm.user_id IS NOT NULL
      AND msg.deleted_at IS NULL
      AND (msg.expires_at IS NULL OR msg.expires_at > $3)
      AND msg.seq > cm.cleared_seq
      AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = msg.id AND h.user_id = $2::uuid))
)`;
