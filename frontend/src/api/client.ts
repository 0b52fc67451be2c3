/**
 * The REST client, built from the contract: every request and response type comes from
 * `@parley/contracts`. Requests travel through axios so one place adds the bearer token and
 * recovers from an expired access token (one refresh, one retry).
 */
import { contract } from '@parley/contracts';
import { type ApiFetcher, type ApiFetcherArgs, type AppRoute, initClient } from '@ts-rest/core';
import axios, { type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { useAuthStore } from '../auth/auth-store';

/** The axios instance all API calls use (tests swap its adapter to stub the network). */
export const http = axios.create({
  withCredentials: true,
  // Non-2xx statuses are answers, not exceptions: ts-rest hands them to callers by status.
  validateStatus: () => true,
  timeout: 20_000,
});

/** Routes whose 401 means "wrong credentials" or "signed out", never "refresh and retry". */
const noRetryRoutes = new Set<AppRoute>([contract.auth.login, contract.auth.register, contract.auth.refresh]);

function toHeaders(response: AxiosResponse): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(response.headers ?? {})) {
    if (value === undefined || value === null) continue;
    headers.set(key, Array.isArray(value) ? value.join(', ') : String(value));
  }
  return headers;
}

async function send(args: ApiFetcherArgs, token: string | null) {
  const headers: Record<string, string> = { ...args.headers };
  if (token) headers['authorization'] = `Bearer ${token}`;
  const response = await http.request({
    url: args.path,
    method: args.method,
    headers,
    data: args.body ?? undefined,
    signal: args.fetchOptions?.signal ?? undefined,
  });
  const body = response.status === 204 || response.data === '' ? undefined : response.data;
  return { status: response.status, body, headers: toHeaders(response) };
}

/** Run a request with the access token; on 401 refresh once and run it again (unless `retry` is false). */
async function withToken<R extends { status: number }>(
  run: (token: string | null) => Promise<R>,
  retry = true,
): Promise<R> {
  const sentToken = useAuthStore.getState().accessToken;
  const first = await run(sentToken);
  if (first.status !== 401 || !retry) return first;

  // Another request may have refreshed while this one was in flight: use its token.
  const current = useAuthStore.getState().accessToken;
  const token = current && current !== sentToken ? current : await refreshAccessToken();
  if (!token) return first;
  return run(token);
}

const fetcher: ApiFetcher = (args) => withToken((token) => send(args, token), !noRetryRoutes.has(args.route));

/**
 * A request the contract's fetcher cannot make (a multipart upload that reports progress):
 * the same axios instance, token and refresh as every API call. Statuses are answers, as above.
 */
export function authorizedRequest<T = unknown>(config: AxiosRequestConfig): Promise<AxiosResponse<T>> {
  return withToken((token) =>
    http.request<T>({
      ...config,
      headers: {
        ...(config.headers as Record<string, string> | undefined),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    }),
  );
}

export const api = initClient(contract, { baseUrl: '', api: fetcher });

let inflightRefresh: Promise<string | null> | null = null;

/**
 * Tabs share one cookie jar: two tabs refreshing at once would present the same refresh
 * token twice, which the server takes for theft. A Web Lock makes them take turns; the
 * second then sends the cookie the first one received.
 */
function acrossTabs<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  return locks ? (locks.request('parley-refresh', fn) as Promise<T>) : fn();
}

/**
 * Exchange the HttpOnly refresh cookie for a new access token. Single-flight: concurrent
 * callers share one request, because the server rotates the refresh token on every use and
 * treats a second use of the old one as theft (it would sign the session out).
 * Resolves to the new access token, or null after signing the store out.
 */
export function refreshAccessToken(): Promise<string | null> {
  inflightRefresh ??= (async () => {
    try {
      const res = await acrossTabs(() => api.auth.refresh({ body: {} }));
      if (res.status === 200) {
        useAuthStore.getState().signIn(res.body);
        return res.body.accessToken;
      }
    } catch {
      // Network failure: treated like an expired session; the user signs in again.
    }
    useAuthStore.getState().signOut();
    return null;
  })().finally(() => {
    inflightRefresh = null;
  });
  return inflightRefresh;
}
