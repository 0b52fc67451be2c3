/**
 * The few REST calls the load tester makes, each with a timeout and a bounded retry for
 * answers that mean "try again" (429, 503, a dropped connection). Responses are checked
 * with the contract's schemas, like any other client would.
 */
import type { z } from 'zod';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const RETRIES = 3;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 30_000,
  ) {}

  /** `attempts: 1` for a request that must not be repeated (a refresh token works once). */
  async post<S extends z.ZodTypeAny>(
    path: string,
    body: unknown,
    schema: S,
    token?: string,
    attempts = RETRIES,
  ): Promise<z.infer<S>> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const init = { method: 'POST', headers, body: JSON.stringify(body) };
    const res = await this.fetchWithRetry(path, init, this.timeoutMs, attempts);
    return checked('POST', path, schema, await res.json());
  }

  async get<S extends z.ZodTypeAny>(path: string, schema: S, token?: string): Promise<z.infer<S>> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await this.fetchWithRetry(path, { method: 'GET', headers });
    return checked('GET', path, schema, await res.json());
  }

  async getText(path: string, timeoutMs = this.timeoutMs): Promise<string> {
    const res = await this.fetchWithRetry(path, { method: 'GET' }, timeoutMs, 1);
    return res.text();
  }

  private async fetchWithRetry(
    path: string,
    init: RequestInit,
    timeoutMs = this.timeoutMs,
    attempts = RETRIES,
  ): Promise<Response> {
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await fetch(new URL(path, this.baseUrl), {
          ...init,
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.ok) return res;
        const text = await res.text();
        let code = `HTTP_${res.status}`;
        let message = text.slice(0, 200);
        try {
          const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
          code = parsed.error?.code ?? code;
          message = parsed.error?.message ?? message;
        } catch {
          // not a JSON error body: keep the text
        }
        last = new ApiError(res.status, code, `${init.method} ${path}: ${res.status} ${code}: ${message}`);
        if (res.status !== 429 && res.status !== 503) throw last;
        const retryAfter = Number(res.headers.get('retry-after'));
        await sleep(
          Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 5000) : 250 * attempt,
        );
      } catch (err) {
        if (err instanceof ApiError && err.status !== 429 && err.status !== 503) throw err;
        last = err;
        if (attempt < attempts) await sleep(250 * attempt);
      }
    }
    if (last instanceof ApiError) throw last;
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause.
    const cause = (last as { cause?: { code?: string; message?: string } } | undefined)?.cause;
    const reason = cause?.code ?? cause?.message ?? (last instanceof Error ? last.message : String(last));
    throw new Error(
      `${init.method} ${new URL(path, this.baseUrl).toString()}: ${reason} (after ${attempts} attempts)`,
    );
  }
}

function checked<S extends z.ZodTypeAny>(method: string, path: string, schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    // The server and the contract disagree: a bug worth stopping for, named precisely.
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${method} ${path}: the response does not match the contract (${issues.join('; ')})`);
  }
  return parsed.data;
}

/** At most `limit` tasks at once; the others wait their turn in arrival order. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next task: `active` stays the same.
      if (next) next();
      else this.active -= 1;
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Interrupted extends Error {
  override name = 'Interrupted';
}

/**
 * Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure, or
 * with Interrupted once `stop()` says so (no new item starts after that).
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  onDone?: (done: number) => void,
  stop: () => boolean = () => false,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      if (stop()) {
        failed ??= new Interrupted('interrupted');
        return;
      }
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failed ??= err;
        return;
      }
      done += 1;
      onDone?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}
