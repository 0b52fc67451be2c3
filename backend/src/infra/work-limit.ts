/**
 * A counting semaphore with a bounded, timed queue: at most `concurrency` jobs run at once,
 * at most `queueMax` wait for a turn, and none waits longer than `waitMs`. A job that cannot
 * run in time is refused with a retryable SERVICE_UNAVAILABLE instead of piling up, so
 * expensive work (argon2) can never take every thread of libuv's pool or grow without end.
 */
import { serviceUnavailable } from './errors.js';

export interface WorkLimit {
  run<T>(job: () => Promise<T>): Promise<T>;
  /** Jobs running now and jobs waiting (for tests and metrics). */
  readonly running: number;
  readonly waiting: number;
}

export function createWorkLimit(opts: { concurrency: number; queueMax: number; waitMs: number }): WorkLimit {
  let running = 0;
  const queue: { start: () => void; timer: NodeJS.Timeout }[] = [];

  const next = () => {
    running -= 1;
    const waiter = queue.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      running += 1;
      waiter.start();
    }
  };

  return {
    get running() {
      return running;
    },
    get waiting() {
      return queue.length;
    },
    async run(job) {
      if (running >= opts.concurrency) {
        if (queue.length >= opts.queueMax) throw serviceUnavailable();
        await new Promise<void>((resolve, reject) => {
          const waiter = {
            start: resolve,
            timer: setTimeout(() => {
              queue.splice(queue.indexOf(waiter), 1);
              reject(serviceUnavailable());
            }, opts.waitMs),
          };
          queue.push(waiter);
        });
      } else {
        running += 1;
      }
      try {
        return await job();
      } finally {
        next();
      }
    },
  };
}
