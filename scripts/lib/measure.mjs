/**
 * What the benchmark scripts share to measure and to talk to a server: latency summaries
 * (nearest-rank percentiles) and JSON over HTTP.
 */

/** Nearest-rank percentile of an ascending list; undefined for an empty one. */
export function percentile(sorted, q) {
  if (!sorted.length) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** count, p50, p95, p99, max and mean of a list of samples (any order). */
export function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1),
    mean: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
  };
}

/**
 * A JSON request to the server; its parsed answer. Throws on any status but `expect`
 * (when given) or a 2xx (when not).
 */
export async function fetchJson(base, method, url, { body, token, expect } = {}) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  const ok = expect === undefined ? res.ok : res.status === expect;
  if (!ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}
