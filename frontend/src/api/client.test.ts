import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { authResult, errorReply, stubNetwork, testUser } from '../test/stub-network';
import { api, refreshAccessToken } from './client';

let net: ReturnType<typeof stubNetwork> | null = null;

beforeEach(() => {
  useAuthStore.setState({
    status: 'signedIn',
    user: testUser,
    accessToken: 'stale',
    sessionId: null,
  });
});
afterEach(() => {
  net?.restore();
  net = null;
});

describe('API client token refresh', () => {
  it('shares one refresh between concurrent 401s and retries each request once', async () => {
    net = stubNetwork((req) => {
      if (req.url === '/api/auth/refresh') return { status: 200, body: authResult('fresh'), delayMs: 20 };
      if (req.authorization === 'Bearer fresh') {
        return req.url === '/api/users/me'
          ? { status: 200, body: testUser }
          : { status: 200, body: { sessions: [] } };
      }
      return errorReply(401, 'TOKEN_INVALID', 'The access token is invalid or has expired.');
    });

    const [me, sessions] = await Promise.all([api.users.getMe(), api.auth.listSessions()]);

    expect(me.status).toBe(200);
    expect(sessions.status).toBe(200);
    const refreshes = net.requests.filter((r) => r.url === '/api/auth/refresh');
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]?.body).toEqual({});
    // Each request: once with the stale token, once retried with the fresh one.
    for (const url of ['/api/users/me', '/api/auth/sessions']) {
      expect(net.requests.filter((r) => r.url === url).map((r) => r.authorization)).toEqual([
        'Bearer stale',
        'Bearer fresh',
      ]);
    }
    expect(useAuthStore.getState().accessToken).toBe('fresh');
    expect(useAuthStore.getState().status).toBe('signedIn');
  });

  it('signs out when the refresh fails, without retrying again', async () => {
    net = stubNetwork((req) =>
      req.url === '/api/auth/refresh'
        ? errorReply(401, 'REFRESH_TOKEN_INVALID', 'The refresh token is invalid or has expired.')
        : errorReply(401, 'TOKEN_INVALID', 'The access token is invalid or has expired.'),
    );

    const [a, b] = await Promise.all([api.users.getMe(), api.users.getMe()]);

    expect(a.status).toBe(401);
    expect(b.status).toBe(401);
    expect(net.requests.filter((r) => r.url === '/api/auth/refresh')).toHaveLength(1);
    expect(net.requests.filter((r) => r.url === '/api/users/me')).toHaveLength(2);
    expect(useAuthStore.getState()).toMatchObject({
      status: 'signedOut',
      user: null,
      accessToken: null,
    });
  });

  it('does not refresh on a failed login (401 there means wrong credentials)', async () => {
    net = stubNetwork(() => errorReply(401, 'INVALID_CREDENTIALS', 'Wrong username or password.'));
    const res = await api.auth.login({
      body: { login: 'ada', password: 'nope', refreshTokenDelivery: 'cookie' },
    });
    expect(res.status).toBe(401);
    expect(net.requests.map((r) => r.url)).toEqual(['/api/auth/login']);
    expect(useAuthStore.getState().status).toBe('signedIn');
  });

  it('sends the bearer token and a single refresh for concurrent start-up callers', async () => {
    useAuthStore.setState({ status: 'loading', user: null, accessToken: null });
    net = stubNetwork((req) =>
      req.url === '/api/auth/refresh'
        ? { status: 200, body: authResult('t1'), delayMs: 10 }
        : { status: 200, body: testUser },
    );
    const [t1, t2] = await Promise.all([refreshAccessToken(), refreshAccessToken()]);
    expect([t1, t2]).toEqual(['t1', 't1']);
    await api.users.getMe();
    expect(net.requests.map((r) => [r.url, r.authorization])).toEqual([
      ['/api/auth/refresh', undefined],
      ['/api/users/me', 'Bearer t1'],
    ]);
  });
});
