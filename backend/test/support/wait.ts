/**
 * Waits for a condition on something asynchronous (never a fixed sleep): checked every
 * `stepMs` until true, or fails naming `what` after `timeoutMs`, a safety net for a busy
 * machine, not an expectation of speed.
 */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  stepMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
