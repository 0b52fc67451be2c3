/**
 * Files being attached in each chat's composer: every file is uploaded at once with its own
 * request (a few at a time), shows its progress, can be cancelled, and fails on its own
 * with the server's words. What finished goes with the next message, in the order the
 * files were added. Kept per chat while the tab lives, like the text draft.
 */
import { type Attachment, MAX_ATTACHMENTS, type Media } from '@parley/contracts';
import { create } from 'zustand';
import { isRetryable, removeUpload, uploadFile } from './media-api';
import { rememberMedia } from './url-store';

/** Uploads running at once (over all chats); the rest wait their turn. */
export const UPLOAD_CONCURRENCY = 3;

export type UploadStatus = 'queued' | 'uploading' | 'done' | 'error';

export interface UploadItem {
  key: string;
  chatId: string;
  file: File;
  name: string;
  size: number;
  /** Shown as a picture tile, and sent in the chosen quality. */
  isImage: boolean;
  /** A local object URL of the picture (tiles, and my own message until the thumbnail is ready). */
  previewUrl: string | null;
  quality: 'standard' | 'original';
  status: UploadStatus;
  /** 0…1 of the bytes sent. */
  progress: number;
  error: { code: string; message: string; retryable: boolean } | null;
  media: Media | null;
}

interface UploadState {
  byChat: Record<string, UploadItem[]>;
  /** "Original quality" for pictures, per chat. */
  originalQuality: Record<string, boolean>;
}

export const useUploadStore = create<UploadState>()(() => ({ byChat: {}, originalQuality: {} }));

const EMPTY: UploadItem[] = [];
export function useChatUploads(chatId: string): UploadItem[] {
  return useUploadStore((s) => s.byChat[chatId] ?? EMPTY);
}

const controllers = new Map<string, AbortController>();
/** Local previews by media id: my pictures show from memory until their thumbnail exists. */
const localPreviews = new Map<string, string>();
let nextKey = 1;

export function localPreviewOf(mediaId: string): string | null {
  return localPreviews.get(mediaId) ?? null;
}

function patch(chatId: string, key: string, changes: Partial<UploadItem>): void {
  useUploadStore.setState((s) => {
    const items = s.byChat[chatId];
    if (!items?.some((i) => i.key === key)) return s;
    return {
      byChat: { ...s.byChat, [chatId]: items.map((i) => (i.key === key ? { ...i, ...changes } : i)) },
    };
  });
}

function findItem(chatId: string, key: string): UploadItem | undefined {
  return useUploadStore.getState().byChat[chatId]?.find((i) => i.key === key);
}

function allItems(): UploadItem[] {
  return Object.values(useUploadStore.getState().byChat).flat();
}

/** Start queued uploads while fewer than UPLOAD_CONCURRENCY run. */
function pump(): void {
  let running = allItems().filter((i) => i.status === 'uploading').length;
  for (const item of allItems()) {
    if (running >= UPLOAD_CONCURRENCY) return;
    if (item.status !== 'queued') continue;
    running += 1;
    void run(item);
  }
}

async function run(item: UploadItem): Promise<void> {
  const controller = new AbortController();
  controllers.set(item.key, controller);
  patch(item.chatId, item.key, { status: 'uploading', progress: 0, error: null });
  const live = () => controllers.get(item.key) === controller;
  const result = await uploadFile(item.file, item.name, {
    quality: item.quality,
    signal: controller.signal,
    onProgress: (progress) => {
      if (live()) patch(item.chatId, item.key, { progress });
    },
  });
  if (!live()) {
    // Cancelled, or started again in another quality, while the answer was on its way:
    // an upload that was made anyway is removed.
    if (result.ok) void removeUpload(result.media.id);
    pump();
    return;
  }
  controllers.delete(item.key);
  if (result.ok) {
    rememberMedia([result.media]);
    if (item.previewUrl) localPreviews.set(result.media.id, item.previewUrl);
    const failed = result.media.status === 'failed';
    patch(item.chatId, item.key, {
      status: failed ? 'error' : 'done',
      progress: 1,
      media: result.media,
      error: failed
        ? {
            code: 'FAILED',
            message: result.media.failureReason ?? 'This file could not be processed.',
            retryable: false,
          }
        : null,
    });
  } else {
    patch(item.chatId, item.key, {
      status: 'error',
      error: {
        code: result.problem.code,
        message: result.problem.message,
        retryable: isRetryable(result.problem),
      },
    });
  }
  pump();
}

/**
 * Add files to a chat's composer and start uploading them. Files past MAX_ATTACHMENTS are
 * left out; the count of those is returned so the caller can say so.
 */
export function addFiles(chatId: string, files: readonly File[]): { added: number; refused: number } {
  const state = useUploadStore.getState();
  const current = state.byChat[chatId] ?? EMPTY;
  const room = Math.max(0, MAX_ATTACHMENTS - current.length);
  const taken = files.slice(0, room);
  const original = Boolean(state.originalQuality[chatId]);
  const items: UploadItem[] = taken.map((file) => {
    const isImage = /^image\/(jpeg|png|gif|webp)$/.test(file.type);
    return {
      key: `u${nextKey++}`,
      chatId,
      file,
      name: file.name || (isImage ? `image.${file.type.split('/')[1] ?? 'png'}` : 'file'),
      size: file.size,
      isImage,
      previewUrl: isImage && typeof URL.createObjectURL === 'function' ? URL.createObjectURL(file) : null,
      quality: isImage && original ? 'original' : 'standard',
      status: 'queued',
      progress: 0,
      error: null,
      media: null,
    };
  });
  if (items.length) {
    useUploadStore.setState((s) => ({
      byChat: { ...s.byChat, [chatId]: [...(s.byChat[chatId] ?? EMPTY), ...items] },
    }));
    pump();
  }
  return { added: items.length, refused: files.length - items.length };
}

function drop(chatId: string, key: string): UploadItem | undefined {
  const item = findItem(chatId, key);
  if (!item) return undefined;
  useUploadStore.setState((s) => ({
    byChat: { ...s.byChat, [chatId]: (s.byChat[chatId] ?? EMPTY).filter((i) => i.key !== key) },
  }));
  return item;
}

/** × on a file: stop its upload, or delete the finished upload that will not be sent. */
export function cancelUpload(chatId: string, key: string): void {
  const item = drop(chatId, key);
  if (!item) return;
  controllers.get(key)?.abort();
  controllers.delete(key);
  if (item.media) {
    localPreviews.delete(item.media.id);
    void removeUpload(item.media.id);
  }
  if (item.previewUrl) URL.revokeObjectURL?.(item.previewUrl);
  pump();
}

/** Try a failed upload again (the scanner was away, the network dropped). */
export function retryUpload(chatId: string, key: string): void {
  const item = findItem(chatId, key);
  if (!item || item.status !== 'error') return;
  patch(chatId, key, { status: 'queued', progress: 0, error: null, media: null });
  pump();
}

/**
 * "Original quality" on or off for a chat's pictures. Pictures already added are uploaded
 * again in the new quality (the server keeps the original only when asked at upload).
 */
export function setOriginalQuality(chatId: string, on: boolean): void {
  useUploadStore.setState((s) => ({ originalQuality: { ...s.originalQuality, [chatId]: on } }));
  const quality = on ? 'original' : 'standard';
  for (const item of useUploadStore.getState().byChat[chatId] ?? EMPTY) {
    if (!item.isImage || item.quality === quality) continue;
    controllers.get(item.key)?.abort();
    controllers.delete(item.key);
    if (item.media) {
      localPreviews.delete(item.media.id);
      void removeUpload(item.media.id);
    }
    patch(chatId, item.key, { quality, status: 'queued', progress: 0, error: null, media: null });
  }
  pump();
}

/** An upload's processing moved on (media:updated before it was attached). */
export function applyUploadUpdate(attachment: Attachment): void {
  const state = useUploadStore.getState();
  for (const [chatId, items] of Object.entries(state.byChat)) {
    const item = items.find((i) => i.media?.id === attachment.id);
    if (!item?.media) continue;
    const failed = attachment.status === 'failed';
    patch(chatId, item.key, {
      media: { ...item.media, ...attachment },
      ...(failed
        ? {
            status: 'error' as const,
            error: {
              code: 'FAILED',
              message: attachment.failureReason ?? 'This file could not be processed.',
              retryable: false,
            },
          }
        : {}),
    });
  }
}

/** What a chat's Send can do: send finished uploads, or wait for running ones. */
export function uploadSummary(items: readonly UploadItem[]): { ready: number; busy: number; failed: number } {
  let ready = 0;
  let busy = 0;
  let failed = 0;
  for (const i of items) {
    if (i.status === 'done') ready += 1;
    else if (i.status === 'error') failed += 1;
    else busy += 1;
  }
  return { ready, busy, failed };
}

/** The attachment part of an upload (what a message carries). */
export function attachmentOf(media: Media): Attachment {
  const {
    chatId: _chat,
    messageId: _message,
    seq: _seq,
    senderId: _sender,
    urls: _urls,
    urlsExpireAt: _expires,
    ...attachment
  } = media;
  return attachment;
}

/**
 * The finished uploads of a chat, in order, taken out of the composer for a message.
 * Failed ones stay (with their error) until removed or retried.
 */
export function takeReadyAttachments(chatId: string): Attachment[] {
  const items = useUploadStore.getState().byChat[chatId] ?? EMPTY;
  const ready = items.filter((i) => i.status === 'done' && i.media);
  if (ready.length === 0) return [];
  useUploadStore.setState((s) => ({
    byChat: { ...s.byChat, [chatId]: (s.byChat[chatId] ?? EMPTY).filter((i) => i.status !== 'done') },
  }));
  return ready.map((i) => attachmentOf(i.media!));
}

/** Sign-out: stop every upload and forget them (the server sweeps what was never attached). */
export function clearUploads(): void {
  for (const c of controllers.values()) c.abort();
  controllers.clear();
  for (const url of localPreviews.values()) URL.revokeObjectURL?.(url);
  localPreviews.clear();
  for (const item of allItems()) if (item.previewUrl) URL.revokeObjectURL?.(item.previewUrl);
  useUploadStore.setState({ byChat: {}, originalQuality: {} });
}
