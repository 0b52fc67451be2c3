/**
 * Time limits for waits in tests: safety nets for a busy machine, never an expectation of
 * speed. A wait ends as soon as what it waits for holds.
 */
export const WAIT_MS = 30_000;

/** Options for `vi.waitFor` and `expect.poll`. */
export const WAIT = { timeout: WAIT_MS } as const;
