/**
 * Media: uploads (pictures, voice notes, videos, documents), their processing state, and
 * the URLs to download them. An upload is made first (and processed off the request path),
 * then attached to a message by id (`attachments` in message:send). specs/uploads.md
 * describes the flows; this file is the schema.
 */
import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime, text, uuid } from '../common.js';
import { errorBodySchema } from '../errors.js';

const c = initContract();

/** Files one message may carry, and files one bulk upload may hold. */
export const MAX_ATTACHMENTS = 10;
export const MEDIA_PAGE_DEFAULT = 30;
export const MEDIA_PAGE_MAX = 100;
/** Bars in a voice note's waveform. */
export const WAVEFORM_BARS = 64;

export const mediaKindSchema = z.enum(['image', 'voice', 'video', 'file']);
export type MediaKind = z.infer<typeof mediaKindSchema>;

/** pending: stored and scanned, variants being made; ready: all variants exist; failed: see failureReason. */
export const mediaStatusSchema = z.enum(['pending', 'ready', 'failed']);
export type MediaStatus = z.infer<typeof mediaStatusSchema>;

/**
 * What can be downloaded: `original` (the file as sent; for images only when the sender
 * chose original quality, re-encoded without metadata), `preview` (images ≤ 1280 px),
 * `thumbnail` (images ≤ 320 px), `poster` (a video's still frame).
 */
export const mediaVariantSchema = z.enum(['original', 'preview', 'thumbnail', 'poster']);
export type MediaVariant = z.infer<typeof mediaVariantSchema>;

/** An upload as messages carry it (the same for every reader: no URLs, which are per reader). */
export const attachmentSchema = z.object({
  id: uuid,
  kind: mediaKindSchema,
  status: mediaStatusSchema,
  /** Why processing failed, fit to show; null unless failed. */
  failureReason: z.string().nullable(),
  /** File name for display and downloads (never used to store the file). */
  name: z.string(),
  /** The type found in the bytes (never the name or the declared type). */
  mime: z.string(),
  /** Bytes as uploaded. */
  size: z.number().int(),
  /** Images and videos, as displayed (EXIF orientation applied). */
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  /** Voice notes and videos. */
  durationMs: z.number().int().nullable(),
  /** A tiny blurred picture (a data: URL) to lay out and show before the thumbnail arrives. */
  placeholder: z.string().nullable(),
  /** Voice notes: WAVEFORM_BARS peaks, 0–255. */
  waveform: z.array(z.number().int()).nullable(),
  /** Animated GIF or WebP. */
  animated: z.boolean(),
  /** The variants that can be downloaded now. */
  variants: z.array(mediaVariantSchema),
  createdAt: isoDateTime,
});
export type Attachment = z.infer<typeof attachmentSchema>;

/** Signed download URLs for the reader who asked, valid until `urlsExpireAt`. */
export const mediaUrlsSchema = z.object({
  original: z.string().optional(),
  preview: z.string().optional(),
  thumbnail: z.string().optional(),
  poster: z.string().optional(),
});
export type MediaUrls = z.infer<typeof mediaUrlsSchema>;

export const mediaSchema = attachmentSchema.extend({
  /** The chat and message it was shared in; null while not attached yet (only its uploader sees it). */
  chatId: uuid.nullable(),
  messageId: uuid.nullable(),
  /** The message's position in its chat (for galleries and deep links). */
  seq: z.number().int().nullable(),
  senderId: uuid,
  urls: mediaUrlsSchema,
  urlsExpireAt: isoDateTime,
});
export type Media = z.infer<typeof mediaSchema>;

/**
 * Form fields that may come with a multipart upload (before the file part):
 * `quality=original` keeps the picture at full size; `voice=true` says the audio or WebM is
 * a recorded voice note; `durationMs` and `waveform` (a JSON array) are the recorder's own
 * measure, used when the server cannot measure (no ffmpeg).
 */
export const uploadFieldsSchema = z.object({
  quality: z.enum(['standard', 'original']).default('standard'),
  voice: z.enum(['true', 'false']).default('false'),
  durationMs: z.coerce.number().int().min(0).max(86_400_000).optional(),
  waveform: z.array(z.number().int().min(0).max(255)).max(WAVEFORM_BARS).optional(),
});
export type UploadFields = z.infer<typeof uploadFieldsSchema>;

/** One file of a bulk upload: each succeeds or fails on its own. */
export const bulkUploadResultSchema = z.object({
  /** The file name as sent (for matching the result to the file). */
  name: z.string(),
  media: mediaSchema.nullable(),
  error: errorBodySchema.shape.error.nullable(),
});

/** A direct upload (the presigned flow): the client PUTs the bytes to `url`, then completes. */
export const createUploadSchema = z.object({
  name: text().min(1).max(255),
  /** Bytes the client will send; checked again on completion. */
  size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  quality: z.enum(['standard', 'original']).default('standard'),
  voice: z.boolean().default(false),
  durationMs: z.number().int().min(0).max(86_400_000).optional(),
  waveform: z.array(z.number().int().min(0).max(255)).max(WAVEFORM_BARS).optional(),
});

export const uploadTicketSchema = z.object({
  mediaId: uuid,
  /** PUT the file's bytes here (S3 directly, or this server when files are stored locally). */
  url: z.string(),
  method: z.literal('PUT'),
  /** Headers to send with the PUT. */
  headers: z.record(z.string(), z.string()),
  expiresAt: isoDateTime,
});

export const listChatMediaQuerySchema = z.object({
  /** image: pictures and videos; file: documents; voice: voice notes. */
  kind: z.enum(['media', 'file', 'voice', 'all']).default('all'),
  /** Opaque cursor from the previous page's `nextCursor`. */
  cursor: text().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(MEDIA_PAGE_MAX).default(MEDIA_PAGE_DEFAULT),
  /** Only pictures in which this object was seen (media analysis: one of `labels` below). */
  label: text().trim().min(1).max(40).optional(),
});

/** An object seen in the chat's pictures, and in how many of those the reader can see. */
export const galleryLabelSchema = z.object({ label: z.string(), count: z.number().int().min(1) });

const mediaParams = z.object({ mediaId: uuid });
const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  404: errorBodySchema,
  429: errorBodySchema,
} as const;
/** Refusals of an upload: 403 STORAGE_QUOTA_EXCEEDED, 413 FILE_TOO_LARGE / IMAGE_DIMENSIONS_TOO_LARGE,
 * 415 FILE_TYPE_NOT_ALLOWED, 422 MALWARE_DETECTED, 503 SCANNER_UNAVAILABLE (retry). */
const uploadErrors = {
  ...errors,
  403: errorBodySchema,
  413: errorBodySchema,
  415: errorBodySchema,
  422: errorBodySchema,
  503: errorBodySchema,
} as const;

export const mediaContract = c.router(
  {
    upload: {
      method: 'POST',
      path: '/media',
      summary: 'Upload one file (multipart/form-data: fields of uploadFieldsSchema, then the part "file")',
      contentType: 'multipart/form-data',
      body: c.type<FormData>(),
      responses: { 201: mediaSchema, ...uploadErrors },
    },
    uploadMany: {
      method: 'POST',
      path: '/media/bulk',
      summary: `Upload up to ${MAX_ATTACHMENTS} files in one request; each succeeds or fails on its own`,
      contentType: 'multipart/form-data',
      body: c.type<FormData>(),
      responses: { 200: z.object({ results: z.array(bulkUploadResultSchema) }), ...uploadErrors },
    },
    createUpload: {
      method: 'POST',
      path: '/media/uploads',
      summary: 'Start a direct upload of a large file: where to PUT its bytes',
      body: createUploadSchema,
      responses: { 201: uploadTicketSchema, ...uploadErrors },
    },
    putUploadContent: {
      method: 'PUT',
      path: '/media/uploads/:mediaId/content',
      summary: "The bytes of a direct upload, when files are stored on this server (the ticket's signed URL)",
      pathParams: mediaParams,
      query: z.object({ expires: z.coerce.number().int().min(0), signature: text().min(1).max(128) }),
      contentType: 'application/octet-stream' as 'application/json',
      body: c.type<Blob>(),
      responses: { 204: c.noBody(), ...uploadErrors },
    },
    completeUpload: {
      method: 'POST',
      path: '/media/uploads/:mediaId/complete',
      summary: 'The bytes of a direct upload are in place: check, scan and process them',
      pathParams: mediaParams,
      body: c.noBody(),
      responses: { 201: mediaSchema, ...uploadErrors, 409: errorBodySchema },
    },
    get: {
      method: 'GET',
      path: '/media/:mediaId',
      summary: 'An upload with fresh signed URLs (uploader, or a member of the chat it was shared in)',
      pathParams: mediaParams,
      responses: { 200: mediaSchema, ...errors },
    },
    resolve: {
      method: 'POST',
      path: '/media/resolve',
      summary: 'Several uploads with fresh signed URLs; ids you may not see are left out',
      body: z.object({ ids: z.array(uuid).min(1).max(100) }),
      responses: { 200: z.object({ media: z.array(mediaSchema) }), ...errors },
    },
    download: {
      method: 'GET',
      path: '/media/:mediaId/:variant',
      summary: 'The bytes of one variant, through a signed URL from `urls` (Range requests work)',
      pathParams: z.object({ mediaId: uuid, variant: mediaVariantSchema }),
      query: z.object({
        expires: z.coerce.number().int().min(0),
        user: uuid,
        signature: text().min(1).max(128),
        download: z.enum(['1']).optional(),
      }),
      responses: {
        200: c.otherResponse({ contentType: 'application/octet-stream', body: c.type<Blob>() }),
        206: c.otherResponse({ contentType: 'application/octet-stream', body: c.type<Blob>() }),
        ...errors,
        403: errorBodySchema,
        416: errorBodySchema,
      },
    },
    remove: {
      method: 'DELETE',
      path: '/media/:mediaId',
      summary: 'Cancel an upload not attached to a message yet (its bytes are deleted)',
      pathParams: mediaParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors, 409: errorBodySchema },
    },
    listForChat: {
      method: 'GET',
      path: '/chats/:chatId/media',
      summary: "A chat's pictures, videos, voice notes and files, newest first",
      pathParams: z.object({ chatId: uuid }),
      query: listChatMediaQuerySchema,
      responses: {
        200: z.object({
          media: z.array(mediaSchema),
          nextCursor: z.string().nullable(),
          /** The objects seen in the chat's pictures (media analysis), most frequent first: the gallery's filters. */
          labels: z.array(galleryLabelSchema),
        }),
        ...errors,
      },
    },
  },
  { strictStatusCodes: true },
);
