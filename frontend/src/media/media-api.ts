/**
 * The media endpoints the web app calls. Uploads go through axios directly (the contract's
 * fetcher has no upload progress): one multipart request per file, text fields first, then
 * the file part, so the server can read the fields before it streams the bytes.
 */
import { type Media, mediaSchema } from '@parley/contracts';
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

/** POST /api/media: one file, with progress and cancel. Never throws. */
export async function uploadFile(
  file: Blob,
  name: string,
  options: UploadOptions = {},
): Promise<UploadResult> {
  try {
    const res = await authorizedRequest({
      url: '/api/media',
      method: 'POST',
      data: uploadForm(file, name, options),
      // A large file on a slow line takes as long as it takes; cancel is the user's.
      timeout: 0,
      ...(options.signal ? { signal: options.signal } : {}),
      onUploadProgress: (e) => {
        const total = e.total ?? file.size;
        if (total > 0) options.onProgress?.(Math.min(1, e.loaded / total));
      },
    });
    if (res.status === 201) {
      const parsed = mediaSchema.safeParse(res.data);
      if (parsed.success) return { ok: true, media: parsed.data };
      return { ok: false, problem: toProblem(500, null) };
    }
    return { ok: false, problem: toProblem(res.status, res.data) };
  } catch (err) {
    if (axios.isCancel(err) || options.signal?.aborted) {
      return { ok: false, problem: networkProblem(), cancelled: true };
    }
    return { ok: false, problem: networkProblem() };
  }
}

/** DELETE /api/media/:id: an upload removed before it was sent. Best effort. */
export async function removeUpload(mediaId: string): Promise<void> {
  await api.media.remove({ params: { mediaId } }).catch(() => null);
}
