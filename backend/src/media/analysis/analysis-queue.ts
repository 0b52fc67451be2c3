/**
 * The analysis job: reads a ready picture's text (OCR) and objects (labels) and stores them
 * for search. A row of media_analysis is the job, made pending in the transaction that makes
 * the picture ready (process-queue.ts); like the media worker's, it is claimed with a lease
 * (FOR UPDATE SKIP LOCKED), so pending work survives restarts and any node may take it.
 * MEDIA_ANALYSIS_WORKERS jobs run at once on a node, each in an analysis process
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
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AppContext } from '../../app-context.js';
import type { Prisma } from '../../infra/db/generated/client.js';
import { createLeaseQueue, type LeaseQueue } from '../../infra/lease-queue.js';
import { storedVariants } from '../presenters.js';
import type { Analyser } from './analyser.js';
import { searchableText } from './searchable-text.js';

export type AnalysisQueue = LeaseQueue;

/**
 * $1 picture, $2 its text, $3 what search matches (before parley_search_text), $4 now,
 * $5/$6 labels and their scores. Only while the picture is there and attached to a message
 * (or not attached yet: only its uploader sees it) and the job still pending; labels no
 * longer seen are dropped; words go to the typo-correction list, as a message's do, only for
 * messages that do not disappear.
 */
const STORE_RESULT = {
  name: 'analysis_store_result',
  text: `
    WITH picture AS (
      SELECT x.id, x.message_id, (msg.expires_at IS NOT NULL) AS disappearing
      FROM media x LEFT JOIN messages msg ON msg.id = x.message_id
      WHERE x.id = $1::uuid AND x.deleted_at IS NULL
        AND (x.message_id IS NOT NULL OR x.attached_at IS NULL)
      FOR UPDATE OF x
    ), done AS (
      UPDATE media_analysis a SET status = 'done', text = $2::text,
        search_text = parley_search_text($3::text), analysed_at = $4::timestamptz,
        lease_until = NULL, failure_reason = NULL
      FROM picture
      WHERE a.media_id = picture.id AND a.status = 'pending'
      RETURNING a.media_id, a.search_text, picture.message_id, picture.disappearing
    ), stale AS (
      DELETE FROM media_labels l USING done
      WHERE l.media_id = done.media_id AND l.label <> ALL ($5::text[])
    ), seen AS (
      INSERT INTO media_labels (media_id, label, score)
      SELECT done.media_id, l.label, l.score
      FROM done, unnest($5::text[], $6::real[]) AS l(label, score)
      ON CONFLICT (media_id, label) DO UPDATE SET score = EXCLUDED.score
    ), words AS (
      INSERT INTO search_words (word)
      SELECT DISTINCT parley_name_words(done.search_text) FROM done
      WHERE done.message_id IS NOT NULL AND NOT done.disappearing
      ON CONFLICT DO NOTHING
    )
    SELECT count(*)::int AS n FROM done`,
};

const LEASE_MS = 10 * 60_000;
const POLL_MS = 5_000;
/** Tries before a job is marked failed (a timeout under load may pass on another try). */
export const MAX_ANALYSIS_ATTEMPTS = 3;

interface Job {
  mediaId: string;
  attempts: number;
  /** The picture's stored variants; null when it was deleted. */
  variants: Prisma.JsonValue | null;
}

/**
 * $1 lease until, $2 now: the oldest pending job whose lease is free, leased and counted as
 * a try, with its picture's variants (one statement: the job's whole cost on the event loop
 * is this, the download and the store).
 */
const CLAIM = {
  name: 'analysis_claim',
  text: `
    WITH job AS (
      UPDATE media_analysis SET lease_until = $1::timestamptz, attempts = attempts + 1
      WHERE media_id = (
        SELECT media_id FROM media_analysis
        WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < $2::timestamptz)
        ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING media_id, attempts
    )
    SELECT job.media_id::text AS media_id, job.attempts,
      CASE WHEN x.deleted_at IS NULL THEN x.variants END AS variants
    FROM job LEFT JOIN media x ON x.id = job.media_id`,
};

const BACKFILL_BATCH = 100;
/** $1 how many: ready pictures with no analysis row, that search could find or will. */
const BACKFILL = {
  name: 'analysis_backfill',
  text: `
    WITH queued AS (
      INSERT INTO media_analysis (media_id)
      SELECT x.id FROM media x
      WHERE x.kind = 'image' AND x.status = 'ready' AND x.deleted_at IS NULL
        AND (x.message_id IS NOT NULL OR x.attached_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM media_analysis a WHERE a.media_id = x.id)
      ORDER BY x.created_at DESC
      LIMIT $1::int
      ON CONFLICT DO NOTHING
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM queued`,
};

/** Queues a picture's analysis (in the transaction that makes it ready); true when queued. */
export async function queueAnalysis(tx: Prisma.TransactionClient, mediaId: string): Promise<boolean> {
  const n = await tx.$executeRaw`
    INSERT INTO media_analysis (media_id) VALUES (${mediaId}::uuid) ON CONFLICT DO NOTHING`;
  return n > 0;
}

export function createAnalysisQueue(ctx: AppContext, analyser: Analyser): AnalysisQueue {
  const log = ctx.log.child({ part: 'media-analysis' });
  const enabled = ctx.config.media.analysis.enabled;

  // Pictures made ready while analysis was off (or before it existed) are queued once it is
  // on: a batch at a time, newest first, whenever the queue has nothing else to do, until
  // none is left (then not again until the next start).
  let backfilled = false;
  async function backfill(): Promise<number> {
    const [row] = await ctx.db.sql<{ n: number }>(BACKFILL, [BACKFILL_BATCH]);
    const n = row?.n ?? 0;
    if (n === 0) backfilled = true;
    else log.info({ queued: n }, 'queued pictures made ready while analysis was off');
    return n;
  }

  async function claim(): Promise<Job | null> {
    if (!enabled) return null;
    const job = await claimPending();
    if (job || backfilled) return job;
    return (await backfill()) > 0 ? claimPending() : null;
  }

  async function claimPending(): Promise<Job | null> {
    const now = ctx.now();
    const [row] = await ctx.db.sql<{
      media_id: string;
      attempts: number;
      variants: Prisma.JsonValue | null;
    }>(CLAIM, [new Date(now.getTime() + LEASE_MS), now]);
    return row ? { mediaId: row.media_id, attempts: row.attempts, variants: row.variants } : null;
  }

  async function pendingCount(): Promise<number> {
    if (!enabled) return 0;
    return ctx.db.prisma.mediaAnalysis.count({ where: { status: 'pending' } });
  }

  async function run(job: Job): Promise<void> {
    const started = Date.now();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-analysis-'));
    try {
      if (job.variants === null) return; // the picture is gone: the trigger removed the job with it
      // The largest variant: at most 2560 px (the process reduces it further for the OCR).
      const variants = storedVariants({ variants: job.variants });
      const variant = variants.original ?? variants.preview ?? variants.thumbnail;
      if (!variant) throw new Error('The picture has no variant to read.');
      const file = path.join(dir, 'image');
      await ctx.objects.download(variant.key, file);
      // The analysis process reads the file itself: no picture's bytes pass through the event loop.
      const result = await analyser.analyse(file);
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

  /**
   * Stores the result if the picture may still be seen: one statement (one round trip, no
   * interactive transaction holding the database while messages wait to be sent). It locks
   * the picture's row, so a delete for everyone that comes at the same time either goes first
   * (nothing is stored) or after (its trigger removes what was stored).
   */
  async function store(mediaId: string, lines: string[], labels: { label: string; score: number }[]) {
    await ctx.db.sql(STORE_RESULT, [
      mediaId,
      lines.join('\n'),
      searchableText(
        lines,
        labels.map((l) => l.label),
      ),
      ctx.now(),
      labels.map((l) => l.label),
      labels.map((l) => l.score),
    ]);
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
