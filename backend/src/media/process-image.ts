/**
 * Image processing for uploads: from one accepted image file, the variants the app serves
 * (thumbnail, preview, optionally a cleaned original) and a tiny inline placeholder.
 * Every output is EXIF-oriented, in sRGB and stripped of all metadata (EXIF with GPS, XMP,
 * IPTC, ICC, comments), so what is served never leaks where or with what a photo was taken.
 *
 * Formats (input → thumbnail / preview; original):
 *   JPEG              → JPEG q82 / q82;  JPEG q92
 *   PNG with alpha    → PNG / PNG;       PNG (lossless)     transparency kept
 *   PNG without alpha → JPEG q82 4:4:4;  PNG (lossless)     photos-as-PNG stay small, text stays sharp
 *   GIF, one frame    → PNG / PNG;       PNG                lossless, keeps transparency
 *   GIF, animated     → GIF / GIF;       GIF                keeps animating everywhere, frame delays kept
 *   WebP (animated or not) → WebP q82 / q82; WebP q92
 * "Has alpha" is the decoder's channel count (no pixel scan): an RGBA screenshot that is
 * fully opaque still comes out as PNG.
 *
 * Placeholder: a WebP data URL (≈100–300 bytes) of the first frame, at most 16 px on the long
 * side and blurred; the client stretches it (with CSS blur) while the thumbnail loads.
 *
 * Memory: libvips' operation cache is off (sharp.cache(false): nothing is kept between
 * uploads) and each image uses one libvips thread (sharp.concurrency(1)); at most
 * UV_THREADPOOL_SIZE (default 4) images are in libvips at once, the rest wait in libuv's
 * queue. Inputs are read from files with sequential access and outputs written to files, so
 * a JPEG or PNG pipeline holds a few scanlines, not the whole image; full-size JPEGs are
 * written baseline without optimised Huffman tables for that reason (see writeVariant).
 * The WebP and GIF encoders do hold their whole output image (all frames of an animation),
 * which maxPixels bounds. The sharp settings are process-wide: they apply to every sharp
 * user in this process.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { MediaProcessingError, errorDetail } from './processing-error.js';

sharp.cache(false);
sharp.concurrency(1);

export type VariantName = 'thumbnail' | 'preview' | 'original';

export interface ImageVariant {
  name: VariantName;
  /** Absolute path of the written file (inside outDir). */
  path: string;
  mime: string;
  /** One frame's size, oriented. */
  width: number;
  height: number;
  /** Bytes on disk. */
  size: number;
}

export interface ProcessedImage {
  /** The oriented size of the image (one frame of an animation). */
  width: number;
  height: number;
  animated: boolean;
  /** data:image/webp;base64,… — a tiny blurred stand-in, well under 1 KB. */
  placeholder: string;
  /** thumbnail and preview always, original when asked for. */
  variants: ImageVariant[];
}

export interface ProcessImageOptions {
  /** Write an 'original' variant: a full-size, oriented, stripped re-encode of the image. */
  keepOriginal: boolean;
  /**
   * When keepOriginal is false, still write an 'original' variant, fit inside
   * originalMaxPx × originalMaxPx (never enlarged): the "standard quality" download.
   * Ignored when keepOriginal is true; no original at all when both are unset.
   */
  originalMaxPx?: number;
  /** Refuse images with more pixels than this (all frames of an animation counted). */
  maxPixels: number;
}

const THUMBNAIL_BOX = 320;
const PREVIEW_BOX = 1280;
const PLACEHOLDER_BOX = 16;
/** Wall-clock limit of one sharp pipeline; libvips stops the work when it passes. */
const TIMEOUT_SECONDS = 60;

type OutFormat = 'jpeg' | 'png' | 'gif' | 'webp';
const MIME: Record<OutFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
};
const EXT: Record<OutFormat, string> = { jpeg: 'jpg', png: 'png', gif: 'gif', webp: 'webp' };

/**
 * Writes thumbnail.<ext>, preview.<ext> and (keepOriginal: full size, or originalMaxPx: at
 * most that long) original.<ext> into outDir and returns what was written. Throws MediaProcessingError: 'too_many_pixels' over maxPixels,
 * 'unsupported' for formats other than JPEG/PNG/GIF/WebP, 'corrupt' for damaged or
 * truncated files, 'timeout'. Files it wrote are removed when it throws.
 */
export async function processImage(
  inputPath: string,
  outDir: string,
  opts: ProcessImageOptions,
): Promise<ProcessedImage> {
  const meta = await readMetadata(inputPath);
  const pages = Math.max(1, meta.pages ?? 1);
  const frameHeight = meta.pageHeight ?? meta.height;
  if (meta.width * frameHeight * pages > opts.maxPixels) {
    throw new MediaProcessingError('too_many_pixels', {
      detail: `${meta.width}×${frameHeight}×${pages} > ${opts.maxPixels}`,
    });
  }
  const animated = pages > 1 && (meta.format === 'gif' || meta.format === 'webp');
  const plan = planFormats(meta, animated);

  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  try {
    // The preview comes from the input; the thumbnail from the (much smaller) preview,
    // which saves decoding a large PNG twice; the placeholder from the thumbnail.
    const common = {
      animated,
      maxPixels: opts.maxPixels,
      crispChroma: meta.format === 'png',
      outDir,
      written,
    };
    const preview = await writeVariant({
      ...common,
      name: 'preview',
      source: inputPath,
      box: PREVIEW_BOX,
      format: plan.preview,
      quality: 82,
    });
    const thumbnail = await writeVariant({
      ...common,
      name: 'thumbnail',
      source: preview.path,
      box: THUMBNAIL_BOX,
      format: plan.preview,
      quality: 82,
    });
    const originalBox = opts.keepOriginal ? null : opts.originalMaxPx;
    const original =
      originalBox === undefined
        ? null
        : await writeVariant({
            ...common,
            name: 'original',
            source: inputPath,
            box: originalBox,
            format: plan.original,
            quality: 92,
          });
    const placeholder = await makePlaceholder(thumbnail.path);

    const rotated = !animated && (meta.orientation ?? 1) >= 5;
    return {
      width: rotated ? frameHeight : meta.width,
      height: rotated ? meta.width : frameHeight,
      animated,
      placeholder,
      variants: original ? [thumbnail, preview, original] : [thumbnail, preview],
    };
  } catch (err) {
    await Promise.all(written.map((file) => rm(file, { force: true })));
    throw toProcessingError(err);
  }
}

// ---------------------------------------------------------------------------------------

async function readMetadata(inputPath: string): Promise<Metadata> {
  let meta: Metadata;
  try {
    meta = await sharp(inputPath, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw toProcessingError(err);
  }
  if (!['jpeg', 'png', 'gif', 'webp'].includes(meta.format)) {
    throw new MediaProcessingError('unsupported', { detail: `format ${meta.format}` });
  }
  if (!meta.width || !meta.height) throw new MediaProcessingError('corrupt', { detail: 'no dimensions' });
  return meta;
}

/** The output formats for an input, per the table in the header. */
function planFormats(meta: Metadata, animated: boolean): { preview: OutFormat; original: OutFormat } {
  switch (meta.format) {
    case 'jpeg':
      return { preview: 'jpeg', original: 'jpeg' };
    case 'png':
      return { preview: meta.hasAlpha ? 'png' : 'jpeg', original: 'png' };
    case 'gif':
      return animated ? { preview: 'gif', original: 'gif' } : { preview: 'png', original: 'png' };
    default:
      return { preview: 'webp', original: 'webp' };
  }
}

interface VariantSpec {
  name: VariantName;
  source: string;
  /** Fit inside box × box (never enlarged); null keeps the full size. */
  box: number | null;
  format: OutFormat;
  quality: number;
  animated: boolean;
  maxPixels: number;
  /** Full-resolution chroma in JPEG output (PNG sources: screenshots, text). */
  crispChroma: boolean;
  outDir: string;
  /** Files written so far, for the clean-up when a later step fails. */
  written: string[];
}

async function writeVariant(spec: VariantSpec): Promise<ImageVariant> {
  const { name, source, box, format, quality, outDir, written } = spec;
  const file = path.join(outDir, `${name}.${EXT[format]}`);
  // failOn 'error': truncated and broken data abort; mere warnings (common in camera
  // JPEGs) do not. autoOrient applies and drops the EXIF orientation.
  let pipeline = sharp(source, {
    animated: spec.animated,
    limitInputPixels: spec.maxPixels,
    failOn: 'error',
    sequentialRead: true,
    autoOrient: true,
  }).timeout({ seconds: TIMEOUT_SECONDS });
  if (box !== null) {
    pipeline = pipeline.resize({ width: box, height: box, fit: 'inside', withoutEnlargement: true });
  }
  // sharp writes no metadata unless asked (keepExif/keepIccProfile/withMetadata…), and
  // converts to sRGB from any embedded profile; toColourspace makes the latter explicit.
  pipeline = pipeline.toColourspace('srgb');
  switch (format) {
    case 'jpeg':
      pipeline = pipeline.jpeg({
        quality,
        // Full-size JPEGs are written baseline with standard Huffman tables: progressive
        // scans and optimised tables make libjpeg hold the whole image's coefficients
        // (36 MB for 6 MP at 4:4:4); without them the encoder streams. Measured with 10
        // 6 MP photos processed at once: peak RSS growth ~390 MB → ~135 MB; files ~5 % larger.
        progressive: name === 'preview',
        optimiseCoding: name !== 'original',
        // 4:4:4 for PNG sources (screenshots): chroma subsampling smears coloured text.
        chromaSubsampling: spec.crispChroma ? '4:4:4' : '4:2:0',
      });
      break;
    case 'png':
      pipeline = pipeline.png({ adaptiveFiltering: true });
      break;
    case 'gif':
      pipeline = pipeline.gif();
      break;
    case 'webp':
      pipeline = pipeline.webp({ quality });
      break;
  }
  written.push(file);
  const info = await pipeline.toFile(file);
  return {
    name,
    path: file,
    mime: MIME[format],
    width: info.width,
    height: info.pageHeight ?? info.height,
    size: info.size,
  };
}

/** A ≤16 px, blurred WebP of the first frame, as a data URL. */
async function makePlaceholder(source: string): Promise<string> {
  const tiny = await sharp(source, { failOn: 'error' })
    .resize({ width: PLACEHOLDER_BOX, height: PLACEHOLDER_BOX, fit: 'inside' })
    .blur(0.7)
    .webp({ quality: 40, alphaQuality: 40, effort: 6 })
    .toBuffer();
  return `data:image/webp;base64,${tiny.toString('base64')}`;
}

function toProcessingError(err: unknown): MediaProcessingError {
  if (err instanceof MediaProcessingError) return err;
  const detail = errorDetail(err);
  if (/exceeds pixel limit/i.test(detail))
    return new MediaProcessingError('too_many_pixels', { detail, cause: err });
  if (/timeout/i.test(detail)) return new MediaProcessingError('timeout', { detail, cause: err });
  if (/unsupported image format/i.test(detail))
    return new MediaProcessingError('unsupported', { detail, cause: err });
  return new MediaProcessingError('corrupt', { detail, cause: err });
}
