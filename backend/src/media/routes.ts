/**
 * The media routes (contract.media): uploads (multipart, bulk, direct), reads with signed
 * URLs, downloads through those URLs, cancelling an upload, and a chat's gallery.
 */
import type { Readable } from 'node:stream';
import {
  bulkUploadResultSchema,
  contract,
  MAX_ATTACHMENTS,
  uploadFieldsSchema,
  type UploadFields,
} from '@parley/contracts';
import type { z } from 'zod';
import { initServer } from '@ts-rest/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { authenticate } from '../auth/authenticate.js';
import { allowUploadTime } from '../infra/http/body-deadline.js';
import { AppError, errorBody, toAppError, zodIssues } from '../infra/errors.js';
import { ObjectNotFoundError } from '../infra/object-store.js';
import { visibleMedia } from './access.js';
import { listChatMedia } from './list-chat-media.js';
import { presentMedia, storedVariants } from './presenters.js';
import {
  completeDirectUpload,
  createDirectUpload,
  receiveDirectContent,
  receiveUpload,
} from './receive-upload.js';

const s = initServer();

/** The content type a download really has (ts-rest sets the contract's generic one). */
const downloadTypes = new WeakMap<FastifyRequest, string>();

/** Types a browser may show in place; everything else is a download. */
const INLINE_TYPES = /^(image\/(jpeg|png|gif|webp)|video\/(mp4|webm)|audio\/(webm|ogg|mp4|mpeg|aac))$/;

function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  // A plain-ASCII fallback and the UTF-8 name (RFC 6266 / 5987).
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** Form fields before the file part → UploadFields (400 with field paths when wrong). */
function parseFields(raw: Record<string, string>): UploadFields {
  let waveform: unknown = undefined;
  if (raw.waveform !== undefined) {
    try {
      waveform = JSON.parse(raw.waveform);
    } catch {
      waveform = raw.waveform;
    }
  }
  const parsed = uploadFieldsSchema.safeParse({ ...raw, ...(waveform !== undefined ? { waveform } : {}) });
  if (!parsed.success) {
    throw new AppError('VALIDATION_ERROR', 'Some fields are not valid.', zodIssues(parsed.error, 'body'));
  }
  return parsed.data;
}

interface FilePart {
  stream: Readable;
  filename: string | undefined;
}

/**
 * Walks a multipart body: text fields first, then each file, handed to `onFile` one at a
 * time (the next part is read only after the previous file was consumed).
 */
async function eachFile(
  request: FastifyRequest,
  onFile: (file: FilePart, fields: Record<string, string>) => Promise<void>,
): Promise<number> {
  if (!request.isMultipart()) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data.');
  }
  const fields: Record<string, string> = {};
  let files = 0;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (typeof part.value === 'string') fields[part.fieldname] = part.value;
        continue;
      }
      files += 1;
      await onFile({ stream: part.file, filename: part.filename || undefined }, fields);
      // Whatever the handler left unread is drained, so the next part can come.
      part.file.resume();
    }
  } catch (err) {
    if ((err as { code?: unknown }).code === 'FST_FILES_LIMIT') {
      throw new AppError('VALIDATION_ERROR', `At most ${MAX_ATTACHMENTS} files per upload.`, [
        { path: 'file', message: `At most ${MAX_ATTACHMENTS} files per upload.`, location: 'body' },
      ]);
    }
    throw err;
  }
  return files;
}

/**
 * Runs one upload request; when it fails as a whole after some of its files were stored,
 * those are cancelled (the sweep deletes them): the client was never told their ids.
 */
async function allOrNothing<T>(
  ctx: AppContext,
  receive: (stored: (id: string) => void) => Promise<T>,
): Promise<T> {
  const ids: string[] = [];
  try {
    return await receive((id) => ids.push(id));
  } catch (err) {
    if (ids.length > 0) {
      await ctx.db.prisma.media.updateMany({
        where: { id: { in: ids }, attachedAt: null, deletedAt: null },
        data: { deletedAt: ctx.now() },
      });
    }
    throw err;
  }
}

function noFile(): AppError {
  return new AppError('VALIDATION_ERROR', 'Attach a file.', [
    { path: 'file', message: 'Attach a file.', location: 'body' },
  ]);
}

export function mediaRouter(ctx: AppContext) {
  // The most a multipart body with one file may hold: the file and its form fields.
  const largestUpload = Math.max(ctx.config.media.imageMaxBytes, ctx.config.media.fileMaxBytes) + 64 * 1024;
  const present = (userId: string, found: Awaited<ReturnType<typeof visibleMedia>>) =>
    found.map(({ row, seq }) => presentMedia(row, userId, ctx.mediaSigner, ctx.now(), seq));

  return s.router(contract.media, {
    upload: async ({ request }) => {
      const me = await authenticate(ctx, request);
      allowUploadTime(request, largestUpload);
      const created = await allOrNothing(ctx, async (stored) => {
        let row: Awaited<ReturnType<typeof receiveUpload>> | undefined;
        await eachFile(request, async (file, fields) => {
          if (row) return; // one file per request here; /media/bulk takes several
          row = await receiveUpload(ctx, me.userId, file, parseFields(fields));
          stored(row.id);
        });
        return row;
      });
      if (!created) throw noFile();
      return {
        status: 201,
        body: presentMedia(created, me.userId, ctx.mediaSigner, ctx.now(), null),
      };
    },

    uploadMany: async ({ request }) => {
      const me = await authenticate(ctx, request);
      allowUploadTime(request, largestUpload * MAX_ATTACHMENTS);
      const results: z.infer<typeof bulkUploadResultSchema>[] = [];
      const files = await allOrNothing(ctx, (stored) =>
        eachFile(request, async (file, fields) => {
          // An eleventh file ends the request (multipart's files limit): see eachFile.
          const name = file.filename ?? 'file';
          try {
            const row = await receiveUpload(ctx, me.userId, file, parseFields(fields));
            stored(row.id);
            results.push({
              name,
              media: presentMedia(row, me.userId, ctx.mediaSigner, ctx.now(), null),
              error: null,
            });
          } catch (err) {
            const known = toAppError(err);
            if (!known) throw err;
            results.push({
              name,
              media: null,
              error: errorBody(known.code, known.message, known.details).error,
            });
          }
        }),
      );
      if (files === 0) throw noFile();
      return { status: 200, body: { results } };
    },

    createUpload: async ({ request, body }) => {
      const me = await authenticate(ctx, request);
      const { row, url, expiresAt } = await createDirectUpload(ctx, me.userId, body);
      return {
        status: 201,
        body: {
          mediaId: row.id,
          url,
          method: 'PUT' as const,
          headers: {},
          expiresAt: expiresAt.toISOString(),
        },
      };
    },

    putUploadContent: async ({ request, params, query }) => {
      // The signature in the URL is the credential (like S3's presigned PUT).
      const body = request.body as Readable | undefined;
      if (typeof body?.pipe !== 'function') {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the bytes as application/octet-stream.');
      }
      await receiveDirectContent(ctx, params.mediaId, query, body, (size) => allowUploadTime(request, size));
      return { status: 204, body: undefined };
    },

    completeUpload: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      const row = await completeDirectUpload(ctx, me.userId, params.mediaId);
      return { status: 201, body: presentMedia(row, me.userId, ctx.mediaSigner, ctx.now(), null) };
    },

    get: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      const [found] = present(
        me.userId,
        await visibleMedia(ctx.db.prisma, [params.mediaId], me.userId, ctx.now()),
      );
      if (!found) throw new AppError('NOT_FOUND');
      return { status: 200, body: found };
    },

    resolve: async ({ request, body }) => {
      const me = await authenticate(ctx, request);
      const ids = [...new Set(body.ids)];
      return {
        status: 200,
        body: { media: present(me.userId, await visibleMedia(ctx.db.prisma, ids, me.userId, ctx.now())) },
      };
    },

    download: {
      hooks: {
        onSend: async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
          const type = downloadTypes.get(request);
          if (type && reply.statusCode < 300) reply.header('content-type', type);
          return payload;
        },
      },
      handler: async ({ request, reply, params, query }) => {
        const { mediaId, variant } = params;
        if (!ctx.mediaSigner.verify(mediaId, variant, query.user, query.expires, query.signature)) {
          throw new AppError('NOT_FOUND');
        }
        if (query.expires * 1000 < ctx.now().getTime()) throw new AppError('MEDIA_URL_EXPIRED');
        const [found] = await visibleMedia(ctx.db.prisma, [mediaId], query.user, ctx.now());
        const stored = found && found.row.status === 'ready' ? storedVariants(found.row)[variant] : undefined;
        if (!found || !stored) throw new AppError('NOT_FOUND');

        const range = parseRange(request.headers.range, stored.size);
        if (range === 'unsatisfiable') {
          reply.header('content-range', `bytes */${stored.size}`);
          throw new AppError('RANGE_NOT_SATISFIABLE');
        }
        let body: Readable;
        try {
          body = await ctx.objects.read(stored.key, range ?? undefined);
        } catch (err) {
          if (err instanceof ObjectNotFoundError) throw new AppError('NOT_FOUND');
          throw err;
        }
        const inline = INLINE_TYPES.test(stored.mime) && found.row.kind !== 'file' && query.download !== '1';
        const name = variant === 'original' ? found.row.name : `${variant}-${found.row.name}`;
        downloadTypes.set(request, stored.mime);
        reply.headers({
          'content-disposition': contentDisposition(inline ? 'inline' : 'attachment', name),
          'x-content-type-options': 'nosniff',
          // Whatever it is, the file is never a page: no scripts, no plugins, no frames.
          'content-security-policy':
            "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
          'cache-control': 'private, max-age=3600, immutable',
          'accept-ranges': 'bytes',
          'content-length': String(range ? range.end - range.start + 1 : stored.size),
          ...(range ? { 'content-range': `bytes ${range.start}-${range.end}/${stored.size}` } : {}),
        });
        // The body is a stream (the contract's Blob is what a client receives).
        const bytes = body as unknown as Blob;
        return range ? { status: 206 as const, body: bytes } : { status: 200 as const, body: bytes };
      },
    },

    remove: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      const row = await ctx.db.prisma.media.findFirst({
        where: { id: params.mediaId, ownerId: me.userId, deletedAt: null },
      });
      if (!row) throw new AppError('NOT_FOUND');
      if (row.attachedAt) throw new AppError('ALREADY_ATTACHED', 'Delete the message to delete its files.');
      const { count } = await ctx.db.prisma.media.updateMany({
        where: { id: row.id, attachedAt: null, deletedAt: null },
        data: { deletedAt: ctx.now() },
      });
      if (count === 0) throw new AppError('ALREADY_ATTACHED', 'Delete the message to delete its files.');
      return { status: 204, body: undefined };
    },

    listForChat: async ({ request, params, query }) => {
      const me = await authenticate(ctx, request);
      const page = await listChatMedia(ctx, me.userId, params.chatId, query);
      return {
        status: 200,
        body: { media: present(me.userId, page.items), nextCursor: page.nextCursor, labels: page.labels },
      };
    },
  });
}

/**
 * One range of `bytes=start-end` / `start-` / `-suffix`; null when there is no (usable)
 * Range header (several ranges: the whole file, as RFC 9110 allows).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}
