/**
 * The analysis job: reads a ready picture's text (OCR) and objects (labels) and stores them
 * for search. A row of media_analysis is the job, made pending in the transaction that makes
 * the picture ready (process-queue.ts); like the media worker's, it is claimed with a lease
 * (FOR UPDATE SKIP LOCKED), so pending work survives restarts and any node may take it.
 * MEDIA_ANALYSIS_WORKERS jobs run at once on a node, each in an analysis thread
 * (analyser.ts), never on the event loop. A job that keeps failing is `failed` with its
 * reason; the upload is never touched by it. MEDIA_ANALYSIS=off queues nothing and runs
 * nothing.
 *
 * Privacy: the result is stored only while the picture is still there and attached to a
 * message that was not deleted (or not yet attached: then only its uploader can see it,
 * and search only finds attached pictures); a trigger deletes it with the message (see the
 * migration). Its words go to the typo-correction word list only for pictures of messages
 * that do not disappear, like the words of messages (search/word-list.ts).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AppContext } from '../../app-context.js';
import type { Prisma } from '../../infra/db/generated/client.js';
import { createLeaseQueue, type LeaseQueue } from '../../infra/lease-queue.js';
import { storedVariants } from '../presenters.js';
import type { Analyser } from './analyser.js';
import { searchableText } from './searchable-text.js';

export type AnalysisQueue = LeaseQueue;

const LEASE_MS = 10 * 60_000;
const POLL_MS = 5_000;
/** Tries before a job is marked failed (a timeout under load may pass on another try). */
export const MAX_ANALYSIS_ATTEMPTS = 3;

/** Queues a picture's analysis (in the transaction that makes it ready); true when queued. */
export async function queueAnalysis(tx: Prisma.TransactionClient, mediaId: string): Promise<boolean> {
  const n = await tx.$executeRaw`
    INSERT INTO media_analysis (media_id) VALUES (${mediaId}::uuid) ON CONFLICT DO NOTHING`;
  return n > 0;
}

export function createAnalysisQueue(ctx: AppContext, analyser: Analyser): AnalysisQueue {
  const log = ctx.log.child({ part: 'media-analysis' });
  const enabled = ctx.config.media.analysis.enabled;

  async function claim(): Promise<{ mediaId: string; attempts: number } | null> {
    if (!enabled) return null;
    const now = ctx.now();
    const rows = await ctx.db.prisma.$queryRaw<{ media_id: string; attempts: number }[]>`
      UPDATE media_analysis SET lease_until = ${new Date(now.getTime() + LEASE_MS)}, attempts = attempts + 1
      WHERE media_id = (
        SELECT media_id FROM media_analysis
        WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < ${now})
        ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING media_id::text AS media_id, attempts`;
    const row = rows[0];
    return row ? { mediaId: row.media_id, attempts: row.attempts } : null;
  }

  async function pendingCount(): Promise<number> {
    if (!enabled) return 0;
    return ctx.db.prisma.mediaAnalysis.count({ where: { status: 'pending' } });
  }

  async function run(job: { mediaId: string; attempts: number }): Promise<void> {
    const started = Date.now();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-analysis-'));
    try {
      const media = await ctx.db.prisma.media.findUnique({ where: { id: job.mediaId } });
      if (!media || media.deletedAt) return; // the trigger removed the job with it
      // The largest variant: at most 2560 px (the thread reduces it further for the OCR).
      const variants = storedVariants(media);
      const variant = variants.original ?? variants.preview ?? variants.thumbnail;
      if (!variant) throw new Error('The picture has no variant to read.');
      const file = path.join(dir, 'image');
      await ctx.objects.download(variant.key, file);
      const result = await analyser.analyse(await readFile(file));
      const lines = result.lines.map((l) => l.text);
      const labels = result.labels;
      await store(job.mediaId, lines, labels);
      log.info(
        { mediaId: job.mediaId, lines: lines.length, labels: labels.length, ms: Date.now() - started },
        'media analysed',
      );
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'The picture could not be analysed.';
      if (job.attempts >= MAX_ANALYSIS_ATTEMPTS) {
        log.warn({ mediaId: job.mediaId, err }, 'media analysis failed');
        await ctx.db.prisma.mediaAnalysis
          .updateMany({
            where: { mediaId: job.mediaId, status: 'pending' },
            data: { status: 'failed', failureReason: reason.slice(0, 500), leaseUntil: null },
          })
          .catch((e: unknown) => log.error({ err: e }, 'could not record a failed analysis'));
      } else {
        log.warn({ mediaId: job.mediaId, err, attempt: job.attempts }, 'media analysis failed; will retry');
        await ctx.db.prisma.mediaAnalysis
          .updateMany({
            where: { mediaId: job.mediaId, status: 'pending' },
            data: { leaseUntil: new Date(ctx.now().getTime() + 15_000 * job.attempts) },
          })
          .catch(() => undefined);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Stores the result if the picture may still be seen, in one transaction. */
  async function store(mediaId: string, lines: string[], labels: { label: string; score: number }[]) {
    await ctx.db.prisma.$transaction(async (tx) => {
      const [media] = await tx.$queryRaw<{ message_id: string | null; disappearing: boolean }[]>`
        SELECT x.message_id::text AS message_id, (msg.expires_at IS NOT NULL) AS disappearing
        FROM media x LEFT JOIN messages msg ON msg.id = x.message_id
        WHERE x.id = ${mediaId}::uuid AND x.deleted_at IS NULL
          AND (x.message_id IS NOT NULL OR x.attached_at IS NULL)
        FOR UPDATE OF x`;
      if (!media) return; // deleted or let go of meanwhile: nothing is kept
      const text = lines.join('\n');
      const searchable = searchableText(
        lines,
        labels.map((l) => l.label),
      );
      const updated = await tx.$executeRaw`
        UPDATE media_analysis SET status = 'done', text = ${text},
          search_text = parley_search_text(${searchable}), analysed_at = ${ctx.now()}, lease_until = NULL,
          failure_reason = NULL
        WHERE media_id = ${mediaId}::uuid AND status = 'pending'`;
      if (updated === 0) return;
      await tx.mediaLabel.deleteMany({ where: { mediaId } });
      if (labels.length > 0) {
        await tx.mediaLabel.createMany({
          data: labels.map((l) => ({ mediaId, label: l.label, score: l.score })),
        });
      }
      // Words for typo correction, as the word list takes a message's (never a disappearing one's).
      if (media.message_id && !media.disappearing) {
        await tx.$executeRaw`
          INSERT INTO search_words (word)
          SELECT DISTINCT parley_name_words(search_text) FROM media_analysis WHERE media_id = ${mediaId}::uuid
          ON CONFLICT DO NOTHING`;
      }
    });
  }

  return createLeaseQueue({
    name: 'media analysis',
    slots: ctx.config.media.analysis.workers,
    pollMs: POLL_MS,
    log,
    claim,
    run,
    pendingCount,
  });
}
