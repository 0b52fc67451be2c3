/**
 * Taking an upload in: the bytes are streamed to a temporary file (never held whole in
 * memory) while the first bytes decide the type (magic bytes only) and with it the size
 * limit, so a renamed executable or an oversized file is refused as soon as it shows. Then
 * pictures are checked for their pixel count (decompression bombs, header only), the file
 * is scanned by clamd, stored under a key the server makes, and recorded as `pending`
 * under the uploader's quota; the media worker makes its variants.
 *
 * The direct-upload flow (presigned PUT) runs the same checks on completion.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { UploadFields } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Media as MediaRow, Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { ScannerUnavailableError } from '../infra/virus-scanner.js';
import { MediaProcessingError } from './processing-error.js';
import {
  checkImagePixels,
  safeDisplayName,
  sizeLimitFor,
  sniffType,
  type SniffedType,
  type SniffHints,
} from './inspect-upload.js';

/** Bytes file-type looks at. */
const HEAD_BYTES = 4100;

export interface IncomingFile {
  stream: Readable;
  /** The name the client gave (display only). */
  filename: string | undefined;
}

export function sourceKey(mediaId: string): string {
  return `media/${mediaId}/source`;
}

export function variantKey(mediaId: string, variant: string): string {
  return `media/${mediaId}/${variant}`;
}

/** A temporary directory for one upload, removed by `done`. */
async function scratch(): Promise<{ dir: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-upload-'));
  return { dir, done: () => rm(dir, { recursive: true, force: true }) };
}

function tooLarge(limit: number): AppError {
  return new AppError(
    'FILE_TOO_LARGE',
    `The file is too large: at most ${formatBytes(limit)} for this kind of file.`,
    {
      maxBytes: limit,
    },
  );
}

function notAllowed(): AppError {
  return new AppError('FILE_TYPE_NOT_ALLOWED');
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${Math.round((n / 1024 ** 3) * 10) / 10} GB`;
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 ** 2) * 10) / 10} MB`;
  return `${Math.ceil(n / 1024)} KB`;
}

/** Refuses early when the user is over quota already (the exact check is at insert). */
async function assertQuotaLeft(ctx: AppContext, ownerId: string, adding: number): Promise<void> {
  const used = await storedBytes(ctx.db.prisma, ownerId);
  if (used + adding > ctx.config.media.quotaBytes) throw quotaExceeded(used);
}

function quotaExceeded(used: number): AppError {
  return new AppError('STORAGE_QUOTA_EXCEEDED', undefined, {
    usedBytes: used,
  });
}

async function storedBytes(
  db: Prisma.TransactionClient | AppContext['db']['prisma'],
  ownerId: string,
): Promise<number> {
  const [row] = await db.$queryRaw<{ used: bigint | number | null }[]>`
    SELECT COALESCE(sum(size), 0) AS used FROM media WHERE owner_id = ${ownerId}::uuid AND deleted_at IS NULL`;
  return Number(row?.used ?? 0);
}

/**
 * Streams `source` to `filePath`, deciding the type from the first bytes and refusing the
 * file (415) or its size (413) as soon as either shows.
 */
async function streamToFile(
  ctx: AppContext,
  source: Readable,
  filePath: string,
  hints: SniffHints,
): Promise<{ type: SniffedType; size: number }> {
  const limits = ctx.config.media;
  const maxAny = Math.max(limits.imageMaxBytes, limits.fileMaxBytes);
  let head = Buffer.alloc(0);
  let type: SniffedType | null = null;
  let limit = maxAny;
  let size = 0;
  const decide = async () => {
    type = await sniffType(head, hints);
    if (!type) throw notAllowed();
    limit = sizeLimitFor(type.kind, limits);
  };
  // A refused file is still read to its end (and thrown away), so the client gets the
  // answer instead of a reset connection, and the next file of a bulk upload can follow.
  let refusal: Error | null = null;
  const gate = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (refusal) return callback();
      size += chunk.length;
      const pass = () => {
        if (size > limit) refusal = tooLarge(limit);
        callback(null, refusal ? undefined : chunk);
      };
      if (type) return pass();
      head = Buffer.concat([head, chunk]);
      if (head.length < HEAD_BYTES) return pass();
      decide().then(pass, (err: unknown) => {
        refusal = err as Error;
        callback();
      });
    },
    flush(callback) {
      if (refusal) return callback(refusal);
      if (type) return callback();
      if (size === 0) {
        return callback(
          new AppError('VALIDATION_ERROR', 'The file is empty.', [
            { path: 'file', message: 'The file is empty.', location: 'body' },
          ]),
        );
      }
      decide().then(
        () => (size > limit ? callback(tooLarge(limit)) : callback()),
        (err: unknown) => callback(err as Error),
      );
    },
  });
  await pipeline(source, gate, createWriteStream(filePath));
  // A stream busboy cut at its own limit ends early instead of failing.
  if ((source as Readable & { truncated?: boolean }).truncated) throw tooLarge(limit);
  return { type: type!, size };
}

/** The first bytes of a file on disk. */
async function readHead(filePath: string): Promise<Buffer> {
  const handle = await open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Pixel limit (pictures), then the virus scan. Throws the refusal. */
async function checkContent(ctx: AppContext, filePath: string, type: SniffedType): Promise<void> {
  if (type.kind === 'image') {
    const pixels = await checkImagePixels(filePath, ctx.config.media.maxPixels).catch((err: unknown) => {
      // Image magic bytes with no readable header after them: not a picture we can take.
      if (err instanceof MediaProcessingError) {
        throw new AppError('FILE_TYPE_NOT_ALLOWED', 'The picture is damaged: its header cannot be read.');
      }
      throw err;
    });
    if (!pixels.ok) {
      throw new AppError(
        'IMAGE_DIMENSIONS_TOO_LARGE',
        `The picture is ${pixels.width}×${pixels.height} pixels; at most ${Math.round(ctx.config.media.maxPixels / 1e6)} megapixels are allowed.`,
        { width: pixels.width, height: pixels.height, maxPixels: ctx.config.media.maxPixels },
      );
    }
  }
  if (!ctx.scanner.enabled) return;
  try {
    const result = await ctx.scanner.scan(createReadStream(filePath));
    if (!result.clean) {
      ctx.log.warn({ signature: result.signature }, 'upload refused: malware found');
      throw new AppError('MALWARE_DETECTED');
    }
  } catch (err) {
    if (!(err instanceof ScannerUnavailableError)) throw err;
    if (ctx.config.clamav?.onUnreachable === 'accept') {
      ctx.log.warn(
        { err: err.message },
        'virus scanner unreachable: upload accepted unscanned (CLAMAV_UNREACHABLE=accept)',
      );
      return;
    }
    ctx.log.error({ err: err.message }, 'virus scanner unreachable: upload refused');
    throw new AppError('SCANNER_UNAVAILABLE', undefined, { retryAfterMs: 5_000 }, { 'retry-after': '5' });
  }
}

function voiceFields(fields: UploadFields, type: SniffedType) {
  const voice = type.kind === 'voice';
  return {
    durationMs: voice || type.kind === 'video' ? (fields.durationMs ?? null) : null,
    waveform: voice && fields.waveform ? (fields.waveform as Prisma.InputJsonValue) : undefined,
  };
}

/** A multipart file: streamed, checked, scanned, stored, recorded. */
export async function receiveUpload(
  ctx: AppContext,
  ownerId: string,
  file: IncomingFile,
  fields: UploadFields,
): Promise<MediaRow> {
  await assertQuotaLeft(ctx, ownerId, 0);
  const tmp = await scratch();
  const id = randomUUID();
  try {
    const filePath = path.join(tmp.dir, 'upload');
    const { type, size } = await streamToFile(ctx, file.stream, filePath, {
      ...(file.filename ? { name: file.filename } : {}),
      voice: fields.voice === 'true',
    });
    await checkContent(ctx, filePath, type);
    const key = sourceKey(id);
    await ctx.objects.putFile(key, filePath, type.mime);
    try {
      const row = await ctx.db.prisma.$transaction(async (tx) => {
        // One upload at a time per user passes the quota check (the user's row is the lock).
        await tx.$queryRaw`SELECT id FROM users WHERE id = ${ownerId}::uuid FOR UPDATE`;
        const used = await storedBytes(tx, ownerId);
        if (used + size > ctx.config.media.quotaBytes) throw quotaExceeded(used);
        const extra = voiceFields(fields, type);
        return tx.media.create({
          data: {
            id,
            ownerId,
            kind: type.kind,
            status: 'pending',
            name: safeDisplayName(file.filename, type.ext),
            mime: type.mime,
            size: BigInt(size),
            keepOriginal: fields.quality === 'original',
            sourceKey: key,
            durationMs: extra.durationMs,
            ...(extra.waveform ? { waveform: extra.waveform } : {}),
            createdAt: ctx.now(),
          },
        });
      });
      ctx.mediaQueue.wake();
      return row;
    } catch (err) {
      await ctx.objects.remove([key]).catch(() => undefined);
      throw err;
    }
  } finally {
    await tmp.done();
  }
}

/** A direct upload is announced: checks what can be checked before the bytes come. */
export async function createDirectUpload(
  ctx: AppContext,
  ownerId: string,
  input: {
    name: string;
    size: number;
    quality: 'standard' | 'original';
    voice: boolean;
    durationMs?: number | undefined;
    waveform?: number[] | undefined;
  },
): Promise<{ row: MediaRow; url: string; expiresAt: Date }> {
  const maxAny = Math.max(ctx.config.media.imageMaxBytes, ctx.config.media.fileMaxBytes);
  if (input.size > maxAny) throw tooLarge(maxAny);
  await assertQuotaLeft(ctx, ownerId, input.size);
  const id = randomUUID();
  const key = sourceKey(id);
  const expirySeconds = 900;
  const expiresAt = new Date(ctx.now().getTime() + expirySeconds * 1000);
  const row = await ctx.db.prisma.media.create({
    data: {
      id,
      ownerId,
      // Only the voice-note intent counts until completion finds the real type.
      kind: input.voice ? 'voice' : 'file',
      status: 'uploading',
      // Checked and renamed with the real type on completion.
      name: input.name.slice(0, 255),
      mime: 'application/octet-stream',
      size: BigInt(input.size),
      keepOriginal: input.quality === 'original',
      sourceKey: key,
      durationMs: input.durationMs ?? null,
      ...(input.waveform ? { waveform: input.waveform } : {}),
      createdAt: ctx.now(),
    },
  });
  const presigned = await ctx.objects.presignedPutUrl(key, expirySeconds);
  const url = presigned ?? ctx.mediaSigner.uploadUrl(id, ownerId, Math.floor(expiresAt.getTime() / 1000));
  return { row, url, expiresAt };
}

/** The bytes of a direct upload, when files are stored on this server. */
export async function receiveDirectContent(
  ctx: AppContext,
  mediaId: string,
  query: { expires: number; signature: string },
  body: Readable,
  /** The URL was genuine: its bytes (at most the announced size) may now take their time. */
  onAccepted: (size: number) => void = () => {},
): Promise<void> {
  const row = await ctx.db.prisma.media.findUnique({ where: { id: mediaId } });
  const genuine =
    row !== null && ctx.mediaSigner.verifyUpload(mediaId, row.ownerId, query.expires, query.signature);
  if (!row || !genuine || row.status !== 'uploading') {
    body.resume();
    throw new AppError('NOT_FOUND');
  }
  if (query.expires * 1000 < ctx.now().getTime()) {
    body.resume();
    throw new AppError('MEDIA_URL_EXPIRED');
  }
  const limit = Number(row.size);
  onAccepted(limit);
  const tmp = await scratch();
  try {
    const filePath = path.join(tmp.dir, 'upload');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        callback(size > limit ? tooLarge(limit) : null, chunk);
      },
    });
    await pipeline(body, counter, createWriteStream(filePath));
    await ctx.objects.putFile(row.sourceKey, filePath, 'application/octet-stream');
  } finally {
    await tmp.done();
  }
}

/** A direct upload's bytes are in place: the same checks as a multipart upload, then pending. */
export async function completeDirectUpload(
  ctx: AppContext,
  ownerId: string,
  mediaId: string,
): Promise<MediaRow> {
  const row = await ctx.db.prisma.media.findFirst({ where: { id: mediaId, ownerId, deletedAt: null } });
  if (!row) throw new AppError('NOT_FOUND');
  if (row.status !== 'uploading') return row; // completed before: the same answer
  const info = await ctx.objects.stat(row.sourceKey);
  if (!info) throw new AppError('UPLOAD_INCOMPLETE');
  const refuse = async (err: AppError) => {
    await ctx.objects.remove([row.sourceKey]).catch(() => undefined);
    await ctx.db.prisma.media.update({ where: { id: row.id }, data: { deletedAt: ctx.now() } });
    throw err;
  };
  // S3's presigned PUT does not hold the client to the announced size: an object larger
  // than any upload may be is refused before its bytes are copied here.
  const maxAny = Math.max(ctx.config.media.imageMaxBytes, ctx.config.media.fileMaxBytes);
  if (info.size > maxAny) return await refuse(tooLarge(maxAny));
  const tmp = await scratch();
  try {
    const filePath = path.join(tmp.dir, 'upload');
    await ctx.objects.download(row.sourceKey, filePath);
    const size = (await stat(filePath)).size;
    const voice = row.kind === 'voice';
    const type = await sniffType(await readHead(filePath), {
      name: row.name,
      voice,
    });
    if (!type) return await refuse(notAllowed());
    const limit = sizeLimitFor(type.kind, ctx.config.media);
    if (size > limit) return await refuse(tooLarge(limit));
    try {
      await checkContent(ctx, filePath, type);
    } catch (err) {
      // Scanner away: the bytes stay, completing again retries.
      if (err instanceof AppError && err.code !== 'SCANNER_UNAVAILABLE') return await refuse(err);
      throw err;
    }
    // A concurrent completion of the same upload finds it pending already and changes nothing.
    await ctx.db.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM users WHERE id = ${ownerId}::uuid FOR UPDATE`;
      const used = (await storedBytes(tx, ownerId)) - Number(row.size);
      if (used + size > ctx.config.media.quotaBytes) throw quotaExceeded(used);
      await tx.media.updateMany({
        where: { id: row.id, status: 'uploading' },
        data: {
          status: 'pending',
          kind: type.kind,
          mime: type.mime,
          size: BigInt(size),
          name: safeDisplayName(row.name, type.ext),
          durationMs: type.kind === 'voice' || type.kind === 'video' ? row.durationMs : null,
        },
      });
    });
    ctx.mediaQueue.wake();
    return await ctx.db.prisma.media.findUniqueOrThrow({ where: { id: row.id } });
  } finally {
    await tmp.done();
  }
}
