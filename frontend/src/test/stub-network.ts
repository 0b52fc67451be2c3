import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { http } from '../api/client';

export interface StubRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}
export type StubReply = {
  status: number;
  body?: unknown;
  delayMs?: number;
  headers?: Record<string, string>;
};

/**
 * Replace the network under the API client: every request is recorded and answered by
 * `handler`. Only the HTTP layer is fake; the client, retry and store logic are real.
 */
const realAdapter = http.defaults.adapter;

/** Puts the real network back; setup.ts calls it after every test. */
export function restoreNetwork(): void {
  http.defaults.adapter = realAdapter;
}

export function stubNetwork(handler: (req: StubRequest) => StubReply | Promise<StubReply>) {
  const requests: StubRequest[] = [];
  const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig) => {
    const auth = config.headers.get('authorization');
    const req: StubRequest = {
      method: (config.method ?? 'get').toUpperCase(),
      url: config.url ?? '',
      authorization: typeof auth === 'string' ? auth : undefined,
      body: typeof config.data === 'string' && config.data ? JSON.parse(config.data) : undefined,
    };
    requests.push(req);
    const reply = await handler(req);
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    const response: AxiosResponse = {
      status: reply.status,
      statusText: String(reply.status),
      data: reply.body === undefined ? '' : reply.body,
      headers: {
        ...(reply.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...reply.headers,
      },
      config,
    };
    return response;
  };
  const previous = http.defaults.adapter;
  http.defaults.adapter = adapter;
  return {
    requests,
    restore: () => {
      http.defaults.adapter = previous;
    },
  };
}

export function errorReply(status: number, code: string, message: string, details?: unknown): StubReply {
  return {
    status,
    body: { error: { code, message, ...(details === undefined ? {} : { details }) } },
  };
}

export const testUser = {
  id: '6f1c1d1e-7a84-4b5e-9a43-9f0f3f6f0a01',
  username: 'ada',
  displayName: 'Ada Lovelace',
  statusText: '',
  availability: 'available' as const,
  createdAt: '2026-01-01T10:00:00.000Z',
  email: 'ada@example.com',
};

export function authResult(accessToken: string) {
  return {
    user: testUser,
    sessionId: '0b7c7f4e-3c1d-4c9f-8a3e-2c1f0e9d8b7a',
    accessToken,
    accessTokenExpiresAt: '2026-01-01T10:15:00.000Z',
    refreshTokenExpiresAt: '2026-02-01T10:00:00.000Z',
  };
}
