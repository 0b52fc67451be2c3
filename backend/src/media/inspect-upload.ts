/**
 * What an upload is, decided before anything is stored for good: the type from the file's
 * own bytes (never its name or the declared Content-Type), the size limit for that kind, a
 * display name safe for the UI and Content-Disposition, and an image's pixel count read from
 * its header only (so a decompression bomb is refused before anything decodes it).
 *
 * Pure functions; the upload routes call them and answer 415 / 413 / 422 themselves.
 */
import { fileTypeFromBuffer } from 'file-type';
import sharp, { type Metadata } from 'sharp';
import { MediaProcessingError, errorDetail } from './processing-error.js';

export type MediaKind = 'image' | 'voice' | 'video' | 'file';

export interface SniffedType {
  /** The Content-Type to store and serve (no parameters). */
  mime: string;
  /** Lower-case extension without the dot, for display names. */
  ext: string;
  kind: MediaKind;
}

export interface SniffHints {
  /** The client declares the upload a voice note: WebM and MP4 audio then count as 'voice'. */
  voice?: boolean;
  /**
   * The client's file name. Used only to pick a display extension where the bytes cannot
   * tell (plain text, a zip that is an Office file, a legacy Office file); never for the type.
   */
  name?: string;
}

/** How many leading bytes of the upload sniffType looks at; read at least this many. */
export const SNIFF_BYTES = 4100;

const IMAGE_TYPES: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/** OOXML and OpenDocument files that file-type recognises inside a zip (when the head holds enough of it). */
const OFFICE_ZIP_TYPES: Record<string, string> = {
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
  'application/vnd.oasis.opendocument.text': 'odt',
  'application/vnd.oasis.opendocument.spreadsheet': 'ods',
  'application/vnd.oasis.opendocument.presentation': 'odp',
};

/** Display extensions taken from the client's name when the bytes only say "zip", "compound file" or "text". */
const ZIP_NAME_EXTS = ['zip', 'docx', 'xlsx', 'pptx', 'odt', 'ods', 'odp'];
const CFB_NAME_EXTS = ['doc', 'xls', 'ppt', 'msg'];
const TEXT_NAME_EXTS = ['txt', 'md', 'csv', 'log', 'json'];

/**
 * The type of an upload from its first bytes (magic numbers via file-type; plain UTF-8 text
 * detected here), or null when it is not one we accept (the caller answers 415).
 *
 * Accepted: JPEG, PNG (APNG as its still first frame), GIF, WebP → image; MP4, QuickTime,
 * WebM → video; Ogg audio → voice; WebM, MP4 and AAC audio → voice when the `voice` hint
 * is set (MP4/AAC audio otherwise → file); PDF, zip, OOXML, OpenDocument, legacy Office
 * (compound file, not MSI installers), UTF-8 text → file. Everything else → null, including
 * executables, SVG, HTML and XML: markup is never served as an image or as text.
 *
 * A voice note's bytes cannot say whether a WebM/MP4 also carries video; the worker checks
 * that with probeAv (hasVideo) before treating it as a voice note.
 */
export async function sniffType(head: Buffer, hints: SniffHints = {}): Promise<SniffedType | null> {
  const bytes = head.subarray(0, SNIFF_BYTES);
  let detected: { mime: string; ext: string } | undefined;
  try {
    detected = await fileTypeFromBuffer(bytes);
  } catch {
    // A malformed container that file-type chokes on: nothing we accept.
    return null;
  }
  const voice = hints.voice === true;
  const nameExt = extensionOf(hints.name);

  if (!detected) return sniffText(bytes, nameExt);

  const { mime, ext } = detected;
  if (IMAGE_TYPES[mime]) return { mime, ext: IMAGE_TYPES[mime], kind: 'image' };
  if (mime === 'image/apng') return { mime: 'image/png', ext: 'png', kind: 'image' };

  if (mime === 'video/webm') {
    return voice ? { mime: 'audio/webm', ext: 'webm', kind: 'voice' } : { mime, ext: 'webm', kind: 'video' };
  }
  if (mime === 'video/mp4' || mime === 'video/x-m4v') {
    return voice
      ? { mime: 'audio/mp4', ext: 'm4a', kind: 'voice' }
      : { mime: 'video/mp4', ext: 'mp4', kind: 'video' };
  }
  if (mime === 'video/quicktime') return { mime, ext: 'mov', kind: 'video' };
  if (mime === 'audio/mp4' || mime === 'audio/x-m4a') {
    return { mime: 'audio/mp4', ext: 'm4a', kind: voice ? 'voice' : 'file' };
  }
  if (mime === 'audio/aac') return { mime, ext: 'aac', kind: voice ? 'voice' : 'file' };
  // Ogg audio (Opus, Vorbis, FLAC, Speex) is always a voice note; file-type says
  // 'audio/ogg; codecs=opus' for Opus. Ogg video (video/ogg) and unknown Ogg are refused.
  if (mime === 'audio/ogg' || mime.startsWith('audio/ogg;') || mime === 'audio/opus') {
    return { mime: 'audio/ogg', ext: 'ogg', kind: 'voice' };
  }

  if (mime === 'application/pdf') return { mime, ext: 'pdf', kind: 'file' };
  if (OFFICE_ZIP_TYPES[mime]) return { mime, ext: OFFICE_ZIP_TYPES[mime], kind: 'file' };
  if (mime === 'application/zip') {
    // Often an Office file whose telling entries lie beyond the head: keep its name's extension for display.
    return { mime, ext: nameExt && ZIP_NAME_EXTS.includes(nameExt) ? nameExt : 'zip', kind: 'file' };
  }
  if (mime === 'application/x-cfb') {
    if (isMsiInstaller(bytes)) return null;
    return { mime, ext: nameExt && CFB_NAME_EXTS.includes(nameExt) ? nameExt : ext, kind: 'file' };
  }
  return null;
}

/** The largest upload allowed for a kind: images have their own (smaller) limit. */
export function sizeLimitFor(
  kind: MediaKind,
  limits: { imageMaxBytes: number; fileMaxBytes: number },
): number {
  return kind === 'image' ? limits.imageMaxBytes : limits.fileMaxBytes;
}

/** Extensions that name the same type as the sniffed one, so "photo.jpeg" stays as it is. */
const EXT_ALIASES: Record<string, string[]> = {
  jpg: ['jpeg', 'jpe', 'jfif'],
  mp4: ['m4v'],
  m4a: ['mp4'],
  mov: ['qt'],
  ogg: ['oga', 'opus'],
  txt: ['text'],
};

const MAX_NAME_CHARS = 200;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A file name fit for display and for Content-Disposition (the route still encodes it per
 * RFC 6266): the last path segment only; control, format (bidi, zero-width), line and
 * paragraph separator characters removed; characters Windows refuses in names (<>:"|?*)
 * replaced by "_"; whitespace runs made one space; leading dots and trailing dots/spaces
 * trimmed; at most 200 characters. When the name's extension does not match the sniffed
 * `ext`, `.ext` is appended ("page.html" holding text becomes "page.html.txt"), so a
 * download never opens as a type it is not. Empty → `file.<ext>`.
 */
export function safeDisplayName(name: string | undefined, ext: string): string {
  const safeExt = /^[a-z0-9]{1,10}$/.test(ext.toLowerCase()) ? ext.toLowerCase() : 'bin';
  // Lone surrogates (not valid Unicode) become U+FFFD before anything else looks at the name.
  let base = (name ?? '').replace(LONE_SURROGATE, '\uFFFD').normalize('NFC');
  base = base.split(/[/\\]/).pop() ?? '';
  base = base
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/\s+/gu, ' ')
    .replace(/^[\s.]+/u, '')
    .replace(/[\s.]+$/u, '');
  if (!base) return `file.${safeExt}`;

  const current = extensionOf(base);
  const matches =
    current === safeExt || (current !== undefined && (EXT_ALIASES[safeExt] ?? []).includes(current));
  let stem = matches ? base.slice(0, base.length - current!.length - 1) : base;
  const suffix = matches ? base.slice(stem.length) : `.${safeExt}`; // the name's own spelling, e.g. ".JPG"

  const chars = Array.from(stem);
  const room = MAX_NAME_CHARS - Array.from(suffix).length;
  if (chars.length > room)
    stem = chars
      .slice(0, room)
      .join('')
      .replace(/[\s.]+$/u, '');
  return stem ? `${stem}${suffix}` : `file${suffix}`;
}

export type PixelCheck =
  { ok: true; width: number; height: number; pages: number } | { ok: false; width: number; height: number };

/**
 * Whether an image's pixel count (width × frame height × frames, so an animation counts
 * every frame) is within maxPixels, from its header alone: sharp's metadata() never decodes
 * pixel data, so a 30000×30000 PNG of a few hundred KB answers in milliseconds. width and
 * height are one frame's, EXIF orientation applied. Throws MediaProcessingError ('corrupt')
 * when the header cannot be read.
 */
export async function checkImagePixels(filePath: string, maxPixels: number): Promise<PixelCheck> {
  let meta: Metadata;
  try {
    // No pixel limit here: the point is to read the dimensions of images over it.
    meta = await sharp(filePath, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new MediaProcessingError('corrupt', { detail: errorDetail(err), cause: err });
  }
  if (!meta.width || !meta.height)
    throw new MediaProcessingError('corrupt', { detail: 'no dimensions in header' });
  const pages = Math.max(1, meta.pages ?? 1);
  const frameHeight = meta.pageHeight ?? meta.height;
  const rotated = (meta.orientation ?? 1) >= 5;
  const width = rotated ? frameHeight : meta.width;
  const height = rotated ? meta.width : frameHeight;
  if (meta.width * frameHeight * pages > maxPixels) return { ok: false, width, height };
  return { ok: true, width, height, pages };
}

// ---------------------------------------------------------------------------------------

/** The lower-cased extension of a file name (after its last dot), if it has a stem. */
function extensionOf(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const base = name.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) return undefined;
  return base.slice(dot + 1).toLowerCase();
}

/** Control characters that do not occur in text files (tab, LF, VT, FF, CR and ESC do). */
// eslint-disable-next-line no-control-regex
const BINARY_CONTROLS = /[\x00-\x08\x0e-\x1a\x1c-\x1f]/;
/** Markup a browser could render as a page or a picture: SVG, HTML, XML. */
const MARKUP_START = /^<(?:\?xml|!doctype|(?:html|head|body|script|iframe|svg)(?:[\s>/]|$))/i;
const MARKUP_ANYWHERE = /<(?:svg|html|script|iframe)[\s>/]/i;

/** Plain UTF-8 text, or null for binary data and for markup. */
function sniffText(bytes: Buffer, nameExt: string | undefined): SniffedType | null {
  const text = decodeUtf8Head(bytes);
  if (text === null || BINARY_CONTROLS.test(text)) return null;
  const start = text.replace(/^\uFEFF/, '').trimStart();
  // Markup-looking text is refused rather than stored as text/plain: it is SVG or HTML
  // under another name, and text/plain is not a promise every viewer keeps.
  if (MARKUP_START.test(start)) return null;
  if (start.startsWith('<') && MARKUP_ANYWHERE.test(start)) return null;
  return {
    mime: 'text/plain',
    ext: nameExt && TEXT_NAME_EXTS.includes(nameExt) ? nameExt : 'txt',
    kind: 'file',
  };
}

/**
 * The head decoded as strict UTF-8, or null when it is not UTF-8. A multi-byte character
 * cut off by the end of the head is forgiven (the head is usually a prefix of the file).
 */
function decodeUtf8Head(bytes: Buffer): string | null {
  let end = bytes.length;
  for (let back = 1; back <= 3 && back <= bytes.length; back++) {
    const b = bytes[bytes.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (need > back) end = bytes.length - back;
    break;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, end));
  } catch {
    return null;
  }
}

/**
 * Windows Installer packages (.msi/.msp/.mst) are compound files too: refuse those whose
 * root storage CLSID (000C108x-0000-0000-C000-000000000046) is within the head.
 */
function isMsiInstaller(bytes: Buffer): boolean {
  if (bytes.length < 64) return false;
  const sectorShift = bytes.readUInt16LE(30);
  if (sectorShift !== 9 && sectorShift !== 12) return false;
  const dirSector = bytes.readUInt32LE(48);
  const rootEntry = (dirSector + 1) * (1 << sectorShift);
  const clsid = rootEntry + 80;
  if (clsid + 16 > bytes.length) return false;
  const tail = Buffer.from([0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46]);
  return (
    (bytes[clsid]! & 0xf0) === 0x80 &&
    bytes[clsid + 1] === 0x10 &&
    bytes[clsid + 2] === 0x0c &&
    bytes[clsid + 3] === 0x00 &&
    bytes.subarray(clsid + 4, clsid + 16).equals(tail)
  );
}
