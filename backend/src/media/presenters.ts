/** Media rows → the contract's shapes: `Attachment` (in messages) and `Media` (with URLs). */
import type { Attachment, Media, MediaKind, MediaStatus, MediaVariant } from '@parley/contracts';
import type { Media as MediaRow } from '../infra/db/generated/client.js';
import type { MediaSigner } from './signed-urls.js';

/** One stored variant, as the `variants` column holds it. */
export interface StoredVariant {
  key: string;
  mime: string;
  size: number;
  width?: number;
  height?: number;
}
export type StoredVariants = Partial<Record<MediaVariant, StoredVariant>>;

export function storedVariants(row: Pick<MediaRow, 'variants'>): StoredVariants {
  return (row.variants ?? {}) as StoredVariants;
}

const VARIANT_ORDER: MediaVariant[] = ['thumbnail', 'preview', 'original', 'poster'];

/** Variants that may be downloaded now: all stored ones once ready; none before. */
export function availableVariants(row: Pick<MediaRow, 'variants' | 'status'>): MediaVariant[] {
  if (row.status !== 'ready') return [];
  const stored = storedVariants(row);
  return VARIANT_ORDER.filter((v) => stored[v]);
}

export function presentAttachment(row: MediaRow): Attachment {
  return {
    id: row.id,
    kind: row.kind as MediaKind,
    // "uploading" rows are never attached or listed; shown as pending if ever.
    status: (row.status === 'uploading' ? 'pending' : row.status) as MediaStatus,
    failureReason: row.status === 'failed' ? (row.failureReason ?? 'The file could not be processed.') : null,
    name: row.name,
    mime: row.mime,
    size: Number(row.size),
    width: row.width,
    height: row.height,
    durationMs: row.durationMs,
    placeholder: row.placeholder,
    waveform: (row.waveform as number[] | null) ?? null,
    animated: row.animated,
    variants: availableVariants(row),
    createdAt: row.createdAt.toISOString(),
  };
}

export function presentMedia(
  row: MediaRow,
  viewerId: string,
  signer: MediaSigner,
  now: Date,
  seq: number | null,
): Media {
  const attachment = presentAttachment(row);
  const { urls, expiresAt } = signer.urls(row.id, attachment.variants, viewerId, now);
  return {
    ...attachment,
    chatId: row.chatId,
    messageId: row.messageId,
    seq,
    senderId: row.ownerId,
    urls,
    urlsExpireAt: expiresAt.toISOString(),
  };
}
