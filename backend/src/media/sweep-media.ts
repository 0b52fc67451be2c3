/**
 * The media sweep: deletes the files (then the rows) of uploads nobody may see any more —
 * deleted for everyone (the message's delete marks them), detached (the message expired or
 * the chat was deleted: the foreign key let go of them), cancelled, or never attached to a
 * message within MEDIA_UNATTACHED_TTL_HOURS. Reads stop at once (the access query checks
 * the same facts); the bytes go at the next sweep.
 *
 * Every node may sweep: rows are claimed with FOR UPDATE SKIP LOCKED, files removed, rows
 * deleted in the same transaction, so two nodes never work on one row and a failed removal
 * leaves the row for the next sweep.
 */
import type { AppContext } from '../app-context.js';
import { storedVariants } from './presenters.js';
import { oneAtATime } from '../infra/one-at-a-time.js';

export interface MediaSweeper {
  /** Sweeps now; returns how many uploads went. */
  sweep(): Promise<number>;
  close(): void;
}

const BATCH = 100;

export function createMediaSweeper(ctx: AppContext): MediaSweeper {
  const log = ctx.log.child({ part: 'media-sweep' });

  async function sweepOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const cutoff = new Date(ctx.now().getTime() - ctx.config.media.unattachedTtlMs);
      const removed = await ctx.db.prisma.$transaction(
        async (tx) => {
          const rows = await tx.$queryRaw<{ id: string; source_key: string; variants: unknown }[]>`
            SELECT id::text AS id, source_key, variants FROM media
            WHERE id IN (
              (SELECT id FROM media WHERE deleted_at IS NOT NULL LIMIT ${BATCH})
              UNION
              (SELECT id FROM media WHERE message_id IS NULL
                 AND (attached_at IS NOT NULL OR created_at < ${cutoff}) LIMIT ${BATCH}))
            LIMIT ${BATCH}
            FOR UPDATE SKIP LOCKED`;
          if (rows.length === 0) return 0;
          const keys = new Set<string>();
          for (const row of rows) {
            keys.add(row.source_key);
            for (const v of Object.values(storedVariants({ variants: row.variants as never }))) {
              if (v) keys.add(v.key);
            }
          }
          await ctx.objects.remove([...keys]);
          await tx.$executeRaw`DELETE FROM media WHERE id = ANY(${rows.map((r) => r.id)}::uuid[])`;
          return rows.length;
        },
        { timeout: 120_000 },
      );
      total += removed;
      if (removed < BATCH) return total;
    }
  }

  // One sweep at a time; a call during a sweep waits for it and sweeps again.
  const sweep = oneAtATime(sweepOnce);
  const timer = setInterval(
    () =>
      void sweep().then(
        (n) => (n ? log.info({ removed: n }, 'media swept') : undefined),
        (err: unknown) => log.warn({ err }, 'media sweep failed; retrying at the next'),
      ),
    ctx.config.media.sweepMs,
  );
  timer.unref();
  return { sweep, close: () => clearInterval(timer) };
}
