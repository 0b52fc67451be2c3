/**
 * A message takes its attachments: the sender's own uploads, not attached yet, not
 * cancelled, not failed. Anyone else's upload id, or one that does not exist, is a 404 like
 * every other object the sender may not see; the whole send is refused, nothing half-done.
 */
import type { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';

export async function attachUploads(
  tx: Prisma.TransactionClient,
  args: { senderId: string; chatId: string; messageId: string; uploadIds: string[]; now: Date },
): Promise<void> {
  const { senderId, chatId, messageId, uploadIds, now } = args;
  const taken = await tx.$queryRaw<{ id: string }[]>`
    UPDATE media SET message_id = ${messageId}::uuid, chat_id = ${chatId}::uuid, attached_at = ${now},
      position = array_position(${uploadIds}::uuid[], id) - 1
    WHERE id = ANY(${uploadIds}::uuid[]) AND owner_id = ${senderId}::uuid
      AND attached_at IS NULL AND deleted_at IS NULL AND status IN ('pending', 'ready')
    RETURNING id::text AS id`;
  if (taken.length === uploadIds.length) return;
  const got = new Set(taken.map((t) => t.id));
  const missing = uploadIds.filter((id) => !got.has(id));
  const own = await tx.media.findMany({
    where: { id: { in: missing }, ownerId: senderId, deletedAt: null },
    select: { id: true, attachedAt: true, status: true },
  });
  const attached = own.find((m) => m.attachedAt);
  if (attached) throw new AppError('ALREADY_ATTACHED', undefined, { mediaId: attached.id });
  const failed = own.find((m) => m.status === 'failed' || m.status === 'uploading');
  if (failed) {
    throw new AppError('VALIDATION_ERROR', 'This upload cannot be sent.', [
      {
        path: `attachments.${uploadIds.indexOf(failed.id)}`,
        message: failed.status === 'failed' ? 'Processing this file failed.' : 'The upload is not complete.',
        location: 'body',
      },
    ]);
  }
  throw new AppError('NOT_FOUND');
}
