/**
 * Runs `job` one call at a time: a call during a run waits for it, then runs again (so a
 * sweep asked for mid-sweep still sees what changed meanwhile). Used by the periodic sweeps.
 */
export function oneAtATime<T>(job: () => Promise<T>): () => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return () => {
    const next = last.then(job, job);
    last = next;
    return next;
  };
}
