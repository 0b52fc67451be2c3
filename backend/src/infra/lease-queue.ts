/**
 * The runner of a job queue kept in the database: claims jobs (the caller's claim takes a
 * row with a lease, FOR UPDATE SKIP LOCKED) and runs up to `slots` at once on this node,
 * looking again when one ends, when woken, and every `pollMs`. The media worker and the
 * media analysis use it; what a job is and how it is claimed and recorded is theirs.
 */
import type { FastifyBaseLogger } from 'fastify';

export interface LeaseQueue {
  /** Something was queued: look now instead of at the next poll. */
  wake(): void;
  start(): void;
  /** Stops taking jobs; resolves when the running ones are done. */
  close(): Promise<void>;
  /** Resolves when no job is pending or running (tests, benchmarks). */
  idle(): Promise<void>;
  /** Jobs running on this node. */
  readonly running: number;
}

export function createLeaseQueue<Job>(opts: {
  name: string;
  slots: number;
  pollMs: number;
  log: FastifyBaseLogger;
  /** Takes the next job (with its lease), or null when none is due. */
  claim(): Promise<Job | null>;
  /** Runs a job to its end; records its outcome itself and never throws. */
  run(job: Job): Promise<void>;
  /** Jobs still to do, leased or not (for idle()). */
  pendingCount(): Promise<number>;
}): LeaseQueue {
  let running = 0;
  let closed = false;
  let started = false;
  let pumping = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const jobs = new Set<Promise<void>>();
  let idleWaiters: (() => void)[] = [];

  async function pump(): Promise<void> {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        while (!closed && running < opts.slots) {
          const job = await opts.claim();
          if (!job) break;
          running += 1;
          const done = opts.run(job).finally(() => {
            running -= 1;
            jobs.delete(done);
            void pump();
          });
          jobs.add(done);
        }
      } while (again && !closed);
    } catch (err) {
      opts.log.warn({ err }, `${opts.name}: could not claim a job; retrying at the next poll`);
    } finally {
      pumping = false;
    }
    if (running === 0 && idleWaiters.length) {
      const left = await opts.pendingCount().catch(() => 1);
      if (left === 0 && running === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  return {
    wake() {
      if (started && !closed) void pump();
    },
    start() {
      if (started) return;
      started = true;
      timer = setInterval(() => void pump(), opts.pollMs);
      timer.unref();
      void pump();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      await Promise.allSettled([...jobs]);
    },
    idle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        void pump();
      });
    },
    get running() {
      return running;
    },
  };
}
