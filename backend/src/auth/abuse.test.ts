/**
 * Abuse resistance of the unauthenticated routes (issue 11, items 2, 3 and 8): the login
 * lockout under parallel guesses, per-address limits across accounts, the bound on argon2
 * work, the registration policy, and the refresh-token reuse grace window. Each runs in
 * whatever mode the suite runs (PGlite, PostgreSQL, with Redis counters under REDIS_URL).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerUser, uniqueName } from '../../test/support/factories.js';
import { client, refusal, type Client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

const wrong = (i: number) => `wrong-password-${i}`;

describe('failed-login lockout under parallel guesses', () => {
  let server: TestServer;
  let api: Client;
  beforeAll(async () => {
    server = await startTestServer();
    api = client(server.url);
  });
  afterAll(() => server.close());

  it('100 parallel wrong logins for one account: exactly LOGIN_MAX_FAILURES are checked, then the right password is refused', async () => {
    const user = await registerUser(api);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        api.post('/api/auth/login', { login: user.username, password: wrong(i) }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(server.config.login.maxFailures);
    expect(statuses.filter((s) => s === 429)).toHaveLength(100 - server.config.login.maxFailures);
    const correct = await api.post('/api/auth/login', { login: user.username, password: user.password });
    expect(refusal(correct)).toEqual({ status: 429, code: 'TOO_MANY_LOGIN_ATTEMPTS' });
    expect(Number(correct.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('a correct guess racing 60 wrong ones is checked only if it is among the first LOGIN_MAX_FAILURES', async () => {
    const user = await registerUser(api);
    const guesses = Array.from({ length: 60 }, (_, i) => (i === 30 ? user.password : wrong(i)));
    const results = await Promise.all(
      guesses.map((password) => api.post('/api/auth/login', { login: user.username, password })),
    );
    const checked = results.filter((r) => r.status === 401 || r.status === 200);
    // A success resets the count, so at most one more batch may follow it; never all 60.
    expect(checked.length).toBeLessThanOrEqual(2 * server.config.login.maxFailures);
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(
      60 - 2 * server.config.login.maxFailures,
    );
    for (const r of results) expect([200, 401, 429]).toContain(r.status);
  });
});

describe('per-address limits', () => {
  let server: TestServer;
  let api: Client;
  beforeAll(async () => {
    server = await startTestServer({
      ADDRESS_LIMITS_LOOPBACK: 'limit',
      LOGIN_ADDRESS_MAX_FAILURES: '30',
      REGISTER_ADDRESS_MAX: '40',
      REGISTER_ADDRESS_WINDOW_SECONDS: '3600',
      // Thirty parallel guesses wait their turn for argon2 however busy the machine is.
      PASSWORD_HASH_WAIT_MS: '120000',
    });
    api = client(server.url);
  });
  afterAll(() => server.close());

  it('password spraying (30 accounts × 4 guesses from one address) is cut off at LOGIN_ADDRESS_MAX_FAILURES', async () => {
    const users = [];
    for (let i = 0; i < 30; i += 1) users.push(await registerUser(api));
    const statuses: number[] = [];
    for (let guess = 0; guess < 4; guess += 1) {
      const round = await Promise.all(
        users.map((u) => api.post('/api/auth/login', { login: u.username, password: wrong(guess) })),
      );
      statuses.push(...round.map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(90);
    // The address is blocked for every account, the right password included.
    const honest = await api.post('/api/auth/login', {
      login: users[0]!.username,
      password: users[0]!.password,
    });
    expect(refusal(honest)).toEqual({ status: 429, code: 'TOO_MANY_LOGIN_ATTEMPTS' });
    // Another address is not (TRUST_PROXY is off: X-Forwarded-For is ignored, so the test
    // checks the refusal is keyed by address by asking through the counter directly).
    expect(await server.running.ctx.loginAddressFailures.blockedFor('192.0.2.7')).toBe(0);
    expect(await server.running.ctx.loginAddressFailures.blockedFor('127.0.0.1')).toBeGreaterThan(0);
  });

  it('registrations from one address stop at REGISTER_ADDRESS_MAX with 429 and Retry-After', async () => {
    // 30 registered above; the budget is 40.
    const results = [];
    for (let i = 0; i < 15; i += 1) {
      const name = uniqueName('spray');
      results.push(
        await api.post('/api/auth/register', {
          username: name,
          email: `${name}@example.test`,
          password: 'longenough',
          displayName: 'Spray',
        }),
      );
    }
    expect(results.filter((r) => r.status === 201)).toHaveLength(10);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(5);
    expect(refused[0]!.body.error.code).toBe('RATE_LIMITED');
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThan(3000);
  });
});

describe('per-address limits and loopback clients', () => {
  let server: TestServer;
  let api: Client;
  beforeAll(async () => {
    // The default: a client on the server's own host is not counted by address.
    server = await startTestServer({ REGISTER_ADDRESS_MAX: '3', LOGIN_ADDRESS_MAX_FAILURES: '3' });
    api = client(server.url);
  });
  afterAll(() => server.close());

  it('leave loopback out by default, while per-account limits still hold', async () => {
    const users = [];
    for (let i = 0; i < 6; i += 1) users.push(await registerUser(api));
    for (const user of users) {
      const res = await api.post('/api/auth/login', { login: user.username, password: 'wrong password 1' });
      expect(res.status).toBe(401);
    }
    // The account limit (LOGIN_MAX_FAILURES, 5) still applies from loopback.
    const one = users[0]!;
    const statuses = [];
    for (let i = 0; i < 6; i += 1)
      statuses.push(
        (await api.post('/api/auth/login', { login: one.username, password: 'wrong again' })).status,
      );
    expect(statuses).toContain(429);
  });
});

describe('argon2 work is bounded', () => {
  let server: TestServer;
  let api: Client;
  beforeAll(async () => {
    server = await startTestServer({
      PASSWORD_HASH_CONCURRENCY: '1',
      PASSWORD_HASH_QUEUE_MAX: '2',
      PASSWORD_HASH_WAIT_MS: '60000',
    });
    api = client(server.url);
  });
  afterAll(() => server.close());

  it('beyond the queue, logins get a retryable 503 in the error shape and are not counted as failures', async () => {
    const user = await registerUser(api);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        api.post('/api/auth/login', { login: uniqueName('nobody'), password: wrong(i) }),
      ),
    );
    const busy = results.filter((r) => r.status === 503);
    // One runs, two wait: at most three are checked at once, the rest are turned away.
    expect(results.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(3);
    expect(busy.length).toBeGreaterThan(0);
    for (const r of busy) {
      expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(r.body.error.details.retryAfterMs).toBeGreaterThan(0);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    for (const r of results) expect([401, 503]).toContain(r.status);
    // The server still signs people in.
    expect(
      (await api.post('/api/auth/login', { login: user.username, password: user.password })).status,
    ).toBe(200);
  });
});

describe('registration policy', () => {
  const register = (api: Client, extra: Record<string, unknown> = {}) => {
    const name = uniqueName('reg');
    return api.post('/api/auth/register', {
      username: name,
      email: `${name}@example.test`,
      password: 'longenough',
      displayName: 'Reg',
      ...extra,
    });
  };

  it('invite: the first account becomes the administrator; others need a one-time invite code', async () => {
    const server = await startTestServer({ REGISTRATION: 'invite' });
    try {
      const api = client(server.url);
      const admin = await register(api);
      expect(admin.status).toBe(201);
      const noCode = await register(api);
      expect(refusal(noCode)).toEqual({ status: 403, code: 'INVITE_INVALID' });
      expect((await register(api, { inviteCode: 'made-up-code' })).body.error.code).toBe('INVITE_INVALID');

      const invite = await api.post('/api/admin/invites', {}, { token: admin.body.accessToken });
      expect(invite.status).toBe(201);
      expect(typeof invite.body.code).toBe('string');
      // Two registrations racing with one code: one gets in.
      const racing = await Promise.all([
        register(api, { inviteCode: invite.body.code }),
        register(api, { inviteCode: invite.body.code }),
      ]);
      expect(racing.map((r) => r.status).sort()).toEqual([201, 403]);
      const member = racing.find((r) => r.status === 201)!;
      // Members are not administrators.
      expect(refusal(await api.post('/api/admin/invites', {}, { token: member.body.accessToken }))).toEqual({
        status: 403,
        code: 'FORBIDDEN',
      });
      // An expired invite is refused.
      const old = await api.post(
        '/api/admin/invites',
        { expiresInHours: 1 },
        { token: admin.body.accessToken },
      );
      server.clock.advance(2 * 3_600_000);
      try {
        expect((await register(api, { inviteCode: old.body.code })).body.error.code).toBe('INVITE_INVALID');
      } finally {
        server.clock.advance(-2 * 3_600_000);
      }
    } finally {
      await server.close();
    }
  });

  it('closed: only the first account registers; administrators create the others', async () => {
    const server = await startTestServer({ REGISTRATION: 'closed' });
    try {
      const api = client(server.url);
      const admin = await register(api);
      expect(admin.status).toBe(201);
      expect(refusal(await register(api))).toEqual({ status: 403, code: 'REGISTRATION_CLOSED' });
      const name = uniqueName('made');
      const created = await api.post(
        '/api/admin/users',
        { username: name, email: `${name}@example.test`, password: 'longenough', displayName: 'Made' },
        { token: admin.body.accessToken },
      );
      expect(created.status).toBe(201);
      expect(created.body.username).toBe(name);
      expect(created.text).not.toContain('argon2');
      const login = await api.post('/api/auth/login', { login: name, password: 'longenough' });
      expect(login.status).toBe(200);
      // The new account is no administrator; nobody signed out may create accounts.
      expect(
        refusal(
          await api.post(
            '/api/admin/users',
            {
              username: uniqueName('z'),
              email: `${uniqueName('z')}@example.test`,
              password: 'longenough',
              displayName: 'Z',
            },
            { token: login.body.accessToken },
          ),
        ),
      ).toEqual({ status: 403, code: 'FORBIDDEN' });
      expect((await api.post('/api/admin/invites', {})).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('open (the default): anyone registers, and only the first account is an administrator', async () => {
    const server = await startTestServer();
    try {
      const api = client(server.url);
      const first = await register(api);
      const second = await register(api);
      expect([first.status, second.status]).toEqual([201, 201]);
      expect((await api.post('/api/admin/invites', {}, { token: first.body.accessToken })).status).toBe(201);
      expect((await api.post('/api/admin/invites', {}, { token: second.body.accessToken })).status).toBe(403);
    } finally {
      await server.close();
    }
  });
});

describe('refresh-token reuse grace window', () => {
  let server: TestServer;
  let api: Client;
  beforeAll(async () => {
    server = await startTestServer({ REFRESH_REUSE_GRACE_SECONDS: '10' });
    api = client(server.url);
  });
  afterAll(() => server.close());

  it('the same token twice within the window returns the same new pair; the session stays', async () => {
    const user = await registerUser(api);
    const first = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    server.clock.advance(5_000);
    try {
      const second = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
      expect(second.status).toBe(200);
      expect(second.body.refreshToken).toBe(first.body.refreshToken);
      expect(second.body.sessionId).toBe(first.body.sessionId);
      expect((await api.get('/api/users/me', { token: second.body.accessToken })).status).toBe(200);
    } finally {
      server.clock.advance(-5_000);
    }
  });

  it('two truly parallel refreshes both succeed with one successor', async () => {
    for (let round = 0; round < 5; round += 1) {
      const user = await registerUser(api);
      const [a, b] = await Promise.all([
        api.post('/api/auth/refresh', { refreshToken: user.refreshToken }),
        api.post('/api/auth/refresh', { refreshToken: user.refreshToken }),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.body.refreshToken).toBe(b.body.refreshToken);
      expect((await api.post('/api/auth/refresh', { refreshToken: a.body.refreshToken })).status).toBe(200);
    }
  });

  it('reuse after the window still revokes the session', async () => {
    const user = await registerUser(api);
    const first = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    expect(first.status).toBe(200);
    server.clock.advance(11_000);
    try {
      const late = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
      expect(refusal(late)).toEqual({ status: 401, code: 'REFRESH_TOKEN_REUSED' });
      expect(refusal(await api.get('/api/users/me', { token: first.body.accessToken }))).toEqual({
        status: 401,
        code: 'SESSION_REVOKED',
      });
    } finally {
      server.clock.advance(-11_000);
    }
  });

  it('within the window, a token whose successor was used already counts as reuse', async () => {
    const user = await registerUser(api);
    const first = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    expect((await api.post('/api/auth/refresh', { refreshToken: first.body.refreshToken })).status).toBe(200);
    const stale = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    expect(refusal(stale)).toEqual({ status: 401, code: 'REFRESH_TOKEN_REUSED' });
  });
});
