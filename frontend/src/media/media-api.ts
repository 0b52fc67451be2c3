/**
 * The media endpoints the web app calls. Uploads go through axios directly (the contract's
 * fetcher has no upload progress): one multipart request per file, text fields first, then
 * the file part, so the server can read the fields before it streams the bytes. Large files
 * go the direct way (specs/uploads.md): a ticket, the bytes PUT where it says (S3 itself
 * when the server stores files there), then completion.
 */
import { type Media, mediaSchema, uploadTicketSchema } from '@parley/contracts';
import axios from 'axios';
import { api, authorizedRequest } from '../api/client';
import { type ApiProblem, networkProblem, toProblem } from '../api/errors';

export interface UploadOptions {
  quality?: 'standard' | 'original';
  /** A recorded voice note, with the recorder's own measure of it. */
  voice?: { durationMs: number; waveform: number[] };
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

export type UploadResult =
  { ok: true; media: Media } | { ok: false; problem: ApiProblem; cancelled?: boolean };

/** Refusals worth trying again as they are: the scanner or the server is busy. */
const RETRYABLE = new Set(['SCANNER_UNAVAILABLE', 'SERVICE_UNAVAILABLE', 'RATE_LIMITED', 'NETWORK_ERROR']);

export function isRetryable(problem: Pick<ApiProblem, 'code'>): boolean {
  return RETRYABLE.has(problem.code);
}

export function uploadForm(file: Blob, name: string, options: UploadOptions = {}): FormData {
  const form = new FormData();
  form.append('quality', options.quality ?? 'standard');
  form.append('voice', options.voice ? 'true' : 'false');
  if (options.voice) {
    form.append('durationMs', String(Math.round(options.voice.durationMs)));
    form.append('waveform', JSON.stringify(options.voice.waveform));
  }
  form.append('file', file, name);
  return form;
}

/** Files from this size on are uploaded directly (with S3, past this server). */
export const DIRECT_UPLOAD_MIN_BYTES = 8 * 1024 * 1024;

const progressOf = (file: Blob, options: UploadOptions) => (e: { loaded: number; total?: number }) => {
  const total = e.total ?? file.size;
  if (total > 0) options.onProgress?.(Math.min(1, e.loaded / total));
};

function mediaResult(status: number, data: unknown): UploadResult {
  if (status !== 201) return { ok: false, problem: toProblem(status, data) };
  const parsed = mediaSchema.safeParse(data);
  return parsed.success ? { ok: true, media: parsed.data } : { ok: false, problem: toProblem(500, null) };
}

function failure(err: unknown, options: UploadOptions): UploadResult {
  const cancelled = axios.isCancel(err) || Boolean(options.signal?.aborted);
  return { ok: false, problem: networkProblem(), ...(cancelled ? { cancelled } : {}) };
}

/** POST /api/media: one file in one multipart request. */
async function uploadMultipart(file: Blob, name: string, options: UploadOptions): Promise<UploadResult> {
  try {
    const res = await authorizedRequest({
      url: '/api/media',
      method: 'POST',
      data: uploadForm(file, name, options),
      // A large file on a slow line takes as long as it takes; cancel is the user's.
      timeout: 0,
      ...(options.signal ? { signal: options.signal } : {}),
      onUploadProgress: progressOf(file, options),
    });
    return mediaResult(res.status, res.data);
  } catch (err) {
    return failure(err, options);
  }
}

/**
 * The direct way: POST /api/media/uploads for a ticket, PUT the bytes to its URL, POST
 * …/complete. Null when the PUT could not reach its URL at all (a bucket without CORS for
 * this site, say): the caller then sends the file through the server instead.
 */
async function uploadDirect(file: Blob, name: string, options: UploadOptions): Promise<UploadResult | null> {
  let mediaId: string | null = null;
  try {
    const created = await authorizedRequest({
      url: '/api/media/uploads',
      method: 'POST',
      data: { name, size: file.size, quality: options.quality ?? 'standard' },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (created.status !== 201) return { ok: false, problem: toProblem(created.status, created.data) };
    const ticket = uploadTicketSchema.safeParse(created.data);
    if (!ticket.success) return { ok: false, problem: toProblem(500, null) };
    mediaId = ticket.data.mediaId;
    let put;
    try {
      // Not the API's axios instance: no token or cookies go to the bucket; the URL's own
      // signature is the credential.
      put = await axios.request({
        url: ticket.data.url,
        method: 'PUT',
        withCredentials: false,
        data: file,
        headers: { ...ticket.data.headers, 'content-type': 'application/octet-stream' },
        timeout: 0,
        validateStatus: () => true,
        ...(options.signal ? { signal: options.signal } : {}),
        onUploadProgress: progressOf(file, options),
      });
    } catch (err) {
      void removeUpload(mediaId);
      const result = failure(err, options);
      return 'cancelled' in result ? result : null;
    }
    if (put.status < 200 || put.status > 299) {
      void removeUpload(mediaId);
      return { ok: false, problem: toProblem(put.status, put.data) };
    }
    const done = await authorizedRequest({
      url: `/api/media/uploads/${mediaId}/complete`,
      method: 'POST',
      // The server checks and scans the stored bytes first: as long as that takes.
      timeout: 0,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return mediaResult(done.status, done.data);
  } catch (err) {
    if (mediaId) void removeUpload(mediaId);
    return failure(err, options);
  }
}

/**
 * One file, with progress and cancel: large ones the direct way, the rest (and voice notes,
 * whose recorder values go with the form) in one multipart request. Never throws.
 */
export async function uploadFile(
  file: Blob,
  name: string,
  options: UploadOptions = {},
): Promise<UploadResult> {
  if (file.size >= DIRECT_UPLOAD_MIN_BYTES && !options.voice) {
    const direct = await uploadDirect(file, name, options);
    if (direct) return direct;
    options.onProgress?.(0);
  }
  return uploadMultipart(file, name, options);
}

/** DELETE /api/media/:id: an upload removed before it was sent. Best effort. */
export async function removeUpload(mediaId: string): Promise<void> {
  await api.media.remove({ params: { mediaId } }).catch(() => null);
}
