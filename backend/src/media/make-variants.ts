/**
 * One media job: from the stored upload to its variants in the object store.
 * - Pictures: thumbnail and preview, and the original (full size when the sender chose
 *   original quality, else at most STANDARD_ORIGINAL_PX on the long side) — all oriented
 *   and without metadata (process-image.ts); the upload as sent is deleted afterwards.
 * - Videos: a poster frame and the duration (ffmpeg), and the file with its container
 *   metadata (location, device) removed. Without ffmpeg: a generic poster and a log line.
 * - Voice notes: duration and waveform (ffmpeg; else the recorder's own).
 * - Documents: stored as they are.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { AppContext } from '../app-context.js';
import type { Media as MediaRow } from '../infra/db/generated/client.js';
import {
  detectFfmpeg,
  genericPoster,
  probeAv,
  stripAvMetadata,
  videoPoster,
  voiceWaveform,
} from './process-av.js';
import { processImage } from './process-image.js';
import type { StoredVariant, StoredVariants } from './presenters.js';
import { variantKey } from './receive-upload.js';

export interface Variants {
  variants: StoredVariants;
  width: number | null;
  height: number | null;
  durationMs: number | null;
  placeholder: string | null;
  waveform: number[] | null;
  animated: boolean;
}

/** A standard-quality picture's downloadable original is at most this many pixels long. */
export const STANDARD_ORIGINAL_PX = 2560;

let warnedNoFfmpeg = false;

export async function makeVariants(
  ctx: AppContext,
  row: MediaRow,
  dir: string,
  log: FastifyBaseLogger,
): Promise<Variants> {
  const source = path.join(dir, 'source');
  await ctx.objects.download(row.sourceKey, source);
  const store = async (
    name: keyof StoredVariants,
    filePath: string,
    mime: string,
    dims?: { width: number; height: number },
  ) => {
    const key = variantKey(row.id, name);
    await ctx.objects.putFile(key, filePath, mime);
    const variant: StoredVariant = { key, mime, size: (await stat(filePath)).size, ...(dims ?? {}) };
    return variant;
  };
  const { ffmpegPath, ffprobePath, maxPixels } = ctx.config.media;

  if (row.kind === 'image') {
    // Every picture gets a downloadable original: full size when the sender chose
    // original quality, else at most STANDARD_ORIGINAL_PX long (both without metadata).
    const image = await processImage(source, dir, {
      keepOriginal: row.keepOriginal,
      maxPixels,
      originalMaxPx: STANDARD_ORIGINAL_PX,
    });
    const variants: StoredVariants = {};
    for (const v of image.variants) {
      variants[v.name] = await store(v.name, v.path, v.mime, { width: v.width, height: v.height });
    }
    return {
      variants,
      width: image.width,
      height: image.height,
      durationMs: null,
      placeholder: image.placeholder,
      waveform: null,
      animated: image.animated,
    };
  }

  const sourceVariant: StoredVariant = { key: row.sourceKey, mime: row.mime, size: Number(row.size) };
  if (row.kind === 'file') {
    return {
      variants: { original: sourceVariant },
      width: null,
      height: null,
      durationMs: null,
      placeholder: null,
      waveform: null,
      animated: false,
    };
  }

  const hasFfmpeg = await detectFfmpeg(ffmpegPath, ffprobePath);
  if (!hasFfmpeg) {
    if (!warnedNoFfmpeg) {
      warnedNoFfmpeg = true;
      log.warn(
        { ffmpegPath },
        'ffmpeg not found: videos get a generic poster and voice notes keep the recorder’s duration (install the Debian package ffmpeg)',
      );
    }
    const variants: StoredVariants = { original: sourceVariant };
    if (row.kind === 'video') {
      const poster = path.join(dir, 'poster.jpg');
      const dims = await genericPoster(poster);
      variants.poster = await store('poster', poster, 'image/jpeg', dims);
    }
    return {
      variants,
      width: null,
      height: null,
      durationMs: row.durationMs,
      placeholder: null,
      waveform: (row.waveform as number[] | null) ?? null,
      animated: false,
    };
  }

  const probe = await probeAv(source, ffprobePath);
  // The file others download: the same streams, without container metadata (location, device).
  const cleaned = path.join(dir, `clean${path.extname(row.name) || ''}`);
  await stripAvMetadata(source, cleaned, ffmpegPath, row.mime);
  const variants: StoredVariants = { original: await store('original', cleaned, row.mime) };
  let waveform = (row.waveform as number[] | null) ?? null;
  if (row.kind === 'video' && probe.hasVideo) {
    const poster = path.join(dir, 'poster.jpg');
    const dims = await videoPoster(source, poster, ffmpegPath);
    variants.poster = await store('poster', poster, 'image/jpeg', dims);
  } else if (row.kind === 'video') {
    const poster = path.join(dir, 'poster.jpg');
    variants.poster = await store('poster', poster, 'image/jpeg', await genericPoster(poster));
  }
  if (row.kind === 'voice' && probe.hasAudio) waveform = await voiceWaveform(source, ffmpegPath);
  return {
    variants,
    width: probe.width,
    height: probe.height,
    durationMs: probe.durationMs ?? row.durationMs,
    placeholder: null,
    waveform,
    animated: false,
  };
}
