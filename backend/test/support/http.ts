/** Minimal HTTP client for tests: JSON in, status + headers + parsed body out. */
export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
  /** Sent as-is (not JSON-encoded) when a string. */
  raw?: string;
}

export function client(baseUrl: string) {
  async function request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    opts: RequestOptions = {},
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(baseUrl + path, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }
  return {
    request,
    get: <T = any>(path: string, opts?: RequestOptions) => request<T>('GET', path, undefined, opts),
    post: <T = any>(path: string, body?: unknown, opts?: RequestOptions) =>
      request<T>('POST', path, body, opts),
    put: <T = any>(path: string, body?: unknown, opts?: RequestOptions) =>
      request<T>('PUT', path, body, opts),
    del: <T = any>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, undefined, opts),
  };
}
export type Client = ReturnType<typeof client>;

/** Request options that authenticate as a test user. */
export const as = (user: { accessToken: string }): RequestOptions => ({ token: user.accessToken });

/** Status and error code together, so a failing assertion shows both. */
export function refusal(res: Reply): { status: number; code: string | undefined } {
  return { status: res.status, code: res.body?.error?.code };
}
