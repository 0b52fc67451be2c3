/**
 * How long a client waits before trying again: reconnecting after a dropped socket, and
 * sending again after a refusal that says "try later". Pure functions of the attempt and a
 * random source, so tests pin them down exactly.
 */

export interface BackoffPolicy {
  /** The delay of the first attempt's window (its upper end). */
  baseMs: number;
  /** No window grows beyond this. */
  maxMs: number;
}

/** Reconnects: 100 ms doubling to 5 s. */
export const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 5_000 };

/**
 * Delay before attempt `attempt` (0-based) with "equal jitter": the window doubles from
 * baseMs up to maxMs, and the delay is somewhere in its upper half. Never zero (a storm of
 * devices dropped together does not come back in the same millisecond), never above maxMs,
 * and spread over half a window, so a thousand devices dropped by one node arrive spread
 * out rather than in one burst.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = RECONNECT_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Math.max(0, Math.min(30, Math.floor(attempt)));
  const window = Math.min(policy.maxMs, policy.baseMs * 2 ** n);
  return window / 2 + random() * (window / 2);
}

/** A refusal's wait (details.retryAfterMs) is kept inside these bounds, like the web app's. */
export const SEND_RETRY_MIN_MS = 250;
export const SEND_RETRY_MAX_MS = 30_000;
/** When the refusal names no wait. */
export const SEND_RETRY_DEFAULT_MS = 1_000;

/** Refusals that mean "the same send will work later": sent again with the same clientMsgId. */
export const RETRYABLE_SEND_CODES: ReadonlySet<string> = new Set(['SERVICE_UNAVAILABLE', 'RATE_LIMITED']);

/**
 * The wait before sending a refused message again: what the server asked for (bounded),
 * plus up to 20 % jitter so the senders it refused together do not come back together.
 */
export function retryAfterDelay(
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const asked =
    retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0
      ? retryAfterMs
      : SEND_RETRY_DEFAULT_MS;
  const wait = Math.min(SEND_RETRY_MAX_MS, Math.max(SEND_RETRY_MIN_MS, asked));
  return wait * (1 + 0.2 * random());
}

/** `details.retryAfterMs` of an error, when it is a number. */
export function retryAfterOf(details: unknown): number | undefined {
  if (!details || typeof details !== 'object') return undefined;
  const v = (details as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
