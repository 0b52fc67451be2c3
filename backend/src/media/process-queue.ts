/**
 * The media worker: makes each pending upload's variants off the request path. The work
 * is kept in the database (`status = 'pending'`), so it survives restarts, and every node
 * may run it: a job is claimed with a lease (FOR UPDATE SKIP LOCKED), and a lease that runs
 * out (a node died mid-job) lets another node take it again. MEDIA_WORKERS jobs run at once
 * on a node.
 *
 * When a job ends (ready or failed) the uploader — and, once attached, every member of the
 * chat — hears `media:updated` through the outbox, in the same transaction as the change.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AppContext } from '../app-context.js';
import type { Media as MediaRow, Prisma } from '../infra/db/generated/client.js';
import { inTransaction } from '../events/outbox.js';
import { nextChatVersion } from '../messages/access.js';
import { makeVariants } from './make-variants.js';
import { presentAttachment, type StoredVariants } from './presenters.js';
import { MediaProcessingError } from './processing-error.js';
import { createLeaseQueue, type LeaseQueue } from '../infra/lease-queue.js';
import { queueAnalysis } from './analysis/analysis-queue.js';

export type MediaQueue = LeaseQueue;

/** A job not finished within this long is taken to be lost (its node died) and runs again. */
const LEASE_MS = 10 * 60_000;
const POLL_MS = 5_000;
/** Tries before a job that keeps failing for reasons other than the file is marked failed. */
const MAX_ATTEMPTS = 3;

export function createMediaQueue(ctx: AppContext): MediaQueue {
  const log = ctx.log.child({ part: 'media' });

  async function claim(): Promise<MediaRow | null> {
    const now = ctx.now();
    const rows = await ctx.db.prisma.$queryRaw<{ id: string }[]>`
      UPDATE media SET lease_until = ${new Date(now.getTime() + LEASE_MS)}, attempts = attempts + 1
      WHERE id = (
        SELECT id FROM media
        WHERE status = 'pending' AND deleted_at IS NULL AND (lease_until IS NULL OR lease_until < ${now})
        ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id::text AS id`;
    const id = rows[0]?.id;
    return id ? ctx.db.prisma.media.findUnique({ where: { id } }) : null;
  }

  async function pendingCount(): Promise<number> {
    return ctx.db.prisma.media.count({ where: { status: 'pending', deletedAt: null } });
  }

  async function run(row: MediaRow): Promise<void> {
    const started = Date.now();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-media-'));
    try {
      const result = await makeVariants(ctx, row, dir, log);
      await finish(row.id, {
        status: 'ready',
        variants: result.variants as unknown as Prisma.InputJsonValue,
        width: result.width,
        height: result.height,
        durationMs: result.durationMs,
        placeholder: result.placeholder,
        ...(result.waveform ? { waveform: result.waveform } : {}),
        animated: result.animated,
        leaseUntil: null,
      });
      // Timed when it is ready for everyone (a client may look at /metrics from then on).
      log.info({ mediaId: row.id, kind: row.kind, ms: Date.now() - started }, 'media processed');
      ctx.metrics.mediaProcessing.observe({ kind: row.kind }, (Date.now() - started) / 1000);
      // The upload as sent may hold metadata (GPS): only the cleaned variants stay.
      if (!Object.values(result.variants).some((v) => v?.key === row.sourceKey)) {
        await ctx.objects.remove([row.sourceKey]).catch((e: unknown) => {
          log.warn({ err: e }, 'source not removed');
        });
      }
    } catch (err) {
      // A file that cannot be processed fails at once; a timeout or a missing tool may pass
      // on another try (or another node).
      const permanent =
        err instanceof MediaProcessingError && err.code !== 'timeout' && err.code !== 'tool_missing';
      if (permanent || row.attempts >= MAX_ATTEMPTS) {
        const reason = err instanceof MediaProcessingError ? err.reason : 'The file could not be processed.';
        log.warn({ mediaId: row.id, kind: row.kind, err }, 'media processing failed');
        ctx.metrics.mediaProcessing.observe({ kind: row.kind }, (Date.now() - started) / 1000);
        await finish(row.id, { status: 'failed', failureReason: reason, leaseUntil: null }).catch(
          (e: unknown) => {
            log.error({ err: e }, 'could not record a failed media job');
          },
        );
      } else {
        // Storage or database away: try again after a while (the lease keeps others off until then).
        log.warn({ mediaId: row.id, err, attempt: row.attempts }, 'media job failed; will retry');
        await ctx.db.prisma.media
          .update({
            where: { id: row.id },
            data: { leaseUntil: new Date(ctx.now().getTime() + 15_000 * row.attempts) },
          })
          .catch(() => undefined);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Records the outcome and tells who may see the upload, in one transaction. */
  async function finish(id: string, data: Prisma.MediaUpdateInput): Promise<void> {
    let analyse = false;
    await inTransaction(ctx, async (tx, emit) => {
      const [locked] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text AS id FROM media WHERE id = ${id}::uuid AND deleted_at IS NULL FOR UPDATE`;
      if (!locked) return; // deleted meanwhile: the sweep removes its files
      const row = await tx.media.update({ where: { id }, data });
      // A picture's text and objects are read next (media/analysis/), queued with its readiness.
      if (row.status === 'ready' && row.kind === 'image' && ctx.config.media.analysis.enabled) {
        analyse = await queueAnalysis(tx, row.id);
      }
      const attachment = presentAttachment(row);
      if (row.messageId && row.chatId) {
        // Clients re-syncing by chat version see the message's new attachment state.
        const version = await nextChatVersion(tx, row.chatId);
        await tx.message.update({
          where: { id: row.messageId },
          data: { version: { increment: 1 }, changedInVersion: version },
        });
        emit.toChat(row.chatId, {
          type: 'media:updated',
          data: { chatId: row.chatId, messageId: row.messageId, attachment },
        });
      } else {
        emit.toUsers([row.ownerId], {
          type: 'media:updated',
          data: { chatId: null, messageId: null, attachment },
        });
      }
    });
    if (analyse) ctx.mediaAnalysis.wake();
  }

  return createLeaseQueue({
    name: 'media queue',
    slots: ctx.config.media.workers,
    pollMs: POLL_MS,
    log,
    claim,
    run,
    pendingCount,
  });
}

export type { StoredVariants };
