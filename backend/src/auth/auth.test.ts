import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { signAccessToken, verifyAccessToken } from './tokens.js';
import { logIn, registerUser, uniqueName } from '../../test/support/factories.js';
import { client, type Client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

let server: TestServer;
let api: Client;

beforeAll(async () => {
  server = await startTestServer();
  api = client(server.url);
});
afterAll(() => server.close());

describe('register', () => {
  it('creates the account, signs in, and never returns the password hash', async () => {
    const username = uniqueName('reg');
    const res = await api.post('/api/auth/register', {
      username,
      email: `${username}@Example.TEST`,
      password: 'longenough',
      displayName: 'Reg User',
      deviceName: 'Test laptop',
      platform: 'linux',
    });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({
      username,
      email: `${username}@example.test`,
      displayName: 'Reg User',
      availability: 'available',
      statusText: '',
    });
    expect(res.text).not.toContain('passwordHash');
    expect(res.text).not.toContain('argon2');
    expect(typeof res.body.accessToken).toBe('string');
    expect(typeof res.body.refreshToken).toBe('string');
    const me = await api.get('/api/users/me', { token: res.body.accessToken });
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(res.body.user.id);
  });

  it('refuses a duplicate username and a duplicate email with their own 409 codes', async () => {
    const existing = await registerUser(api);
    const sameName = await api.post('/api/auth/register', {
      username: existing.username,
      email: `${uniqueName()}@example.test`,
      password: 'longenough',
      displayName: 'X',
    });
    expect(sameName.status).toBe(409);
    expect(sameName.body.error.code).toBe('USERNAME_TAKEN');
    const sameEmail = await api.post('/api/auth/register', {
      username: uniqueName(),
      email: existing.email.toUpperCase(),
      password: 'longenough',
      displayName: 'X',
    });
    expect(sameEmail.status).toBe(409);
    expect(sameEmail.body.error.code).toBe('EMAIL_TAKEN');
  });

  it.each([
    [{ username: 'ab' }, 'username'],
    [{ username: 'x'.repeat(33) }, 'username'],
    [{ username: 'Upper' }, 'username'],
    [{ username: 'has space' }, 'username'],
    [{ email: 'not-an-email' }, 'email'],
    [{ password: 'short' }, 'password'],
    [{ password: 'p'.repeat(129) }, 'password'],
    [{ displayName: '' }, 'displayName'],
    [{ displayName: 42 }, 'displayName'],
  ])('rejects %j with a 400 naming %s', async (override, field) => {
    const res = await api.post('/api/auth/register', {
      username: uniqueName(),
      email: `${uniqueName()}@example.test`,
      password: 'longenough',
      displayName: 'Valid',
      ...override,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: field, location: 'body' })]),
    );
  });

  it('accepts the edges of the username and password rules', async () => {
    const res = await api.post('/api/auth/register', {
      username: `a.b_${uniqueName('').slice(1, 9)}`,
      email: `${uniqueName()}@example.test`,
      password: '12345678',
      displayName: 'Edge',
    });
    expect(res.status).toBe(201);
  });
});

describe('login', () => {
  it('signs in with username or email, case-insensitively', async () => {
    const user = await registerUser(api);
    for (const login of [user.username, user.email, user.email.toUpperCase()]) {
      const res = await api.post('/api/auth/login', { login, password: user.password });
      expect(res.status).toBe(200);
      expect(res.body.user.id).toBe(user.id);
    }
  });

  it('answers a wrong password and an unknown user with the same 401', async () => {
    const user = await registerUser(api);
    const wrongPassword = await api.post('/api/auth/login', {
      login: user.username,
      password: 'not the password',
    });
    const unknownUser = await api.post('/api/auth/login', {
      login: uniqueName('ghost'),
      password: 'not the password',
    });
    expect(wrongPassword.status).toBe(401);
    expect(unknownUser.status).toBe(401);
    expect(wrongPassword.body).toEqual(unknownUser.body);
    expect(wrongPassword.body.error.code).toBe('INVALID_CREDENTIALS');
  });

  it('gives 429 with Retry-After after five failures for one account, even with the right password', async () => {
    const user = await registerUser(api);
    for (let i = 0; i < 5; i += 1) {
      const res = await api.post('/api/auth/login', {
        login: user.username,
        password: `wrong-${i}-password`,
      });
      expect(res.status).toBe(401);
    }
    const blocked = await api.post('/api/auth/login', { login: user.email, password: user.password });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('TOO_MANY_LOGIN_ATTEMPTS');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    // Another account from the same address is not affected.
    const other = await registerUser(api);
    expect(
      (await api.post('/api/auth/login', { login: other.username, password: other.password })).status,
    ).toBe(200);
  });

  it('a successful login clears earlier failures', async () => {
    const user = await registerUser(api);
    for (let i = 0; i < 4; i += 1)
      await api.post('/api/auth/login', { login: user.username, password: 'wrong-password' });
    expect(
      (await api.post('/api/auth/login', { login: user.username, password: user.password })).status,
    ).toBe(200);
    for (let i = 0; i < 4; i += 1) {
      expect(
        (await api.post('/api/auth/login', { login: user.username, password: 'wrong-password' })).status,
      ).toBe(401);
    }
  });
});

describe('access tokens', () => {
  let user: Awaited<ReturnType<typeof registerUser>>;
  beforeAll(async () => {
    user = await registerUser(api);
  });
  const expectTokenInvalid = async (token: string) => {
    const res = await api.get('/api/users/me', { token });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('TOKEN_INVALID');
  };

  it('requires a token', async () => {
    const res = await api.get('/api/users/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('refuses alg "none"', async () => {
    const [, payload] = user.accessToken.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    await expectTokenInvalid(`${header}.${payload}.`);
  });

  it('refuses a token for another audience or issuer, or signed with another key', async () => {
    const { jwt } = server.config;
    const base = () =>
      new SignJWT({ sid: user.sessionId })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(user.id)
        .setIssuedAt()
        .setExpirationTime('5m');
    await expectTokenInvalid(await base().setIssuer(jwt.issuer).setAudience('someone-else').sign(jwt.secret));
    await expectTokenInvalid(await base().setIssuer('evil').setAudience(jwt.audience).sign(jwt.secret));
    await expectTokenInvalid(
      await base()
        .setIssuer(jwt.issuer)
        .setAudience(jwt.audience)
        .sign(new TextEncoder().encode('another-secret-another-secret-1234')),
    );
    // The same claims with the right key work, so the three refusals above are about what they changed.
    expect(
      (
        await api.get('/api/users/me', {
          token: await base().setIssuer(jwt.issuer).setAudience(jwt.audience).sign(jwt.secret),
        })
      ).status,
    ).toBe(200);
  });

  it('refuses an expired token', async () => {
    const old = await signAccessToken(
      server.config.jwt,
      { userId: user.id, sessionId: user.sessionId },
      new Date(Date.now() - 16 * 60_000),
    );
    expect(old.expiresAt.getTime()).toBeLessThan(Date.now());
    await expectTokenInvalid(old.token);
  });

  it('a token verified once is taken again without a second check only until it expires, and only by the key that signed it', async () => {
    const { jwt } = server.config;
    const t0 = new Date();
    const claims = { userId: user.id, sessionId: user.sessionId };
    const { token, expiresAt } = await signAccessToken(jwt, claims, t0);
    expect(await verifyAccessToken(jwt, token, t0)).toEqual(claims);
    expect(await verifyAccessToken(jwt, token, new Date(expiresAt.getTime() - 1000))).toEqual(claims);
    // Remembered, yet refused at its expiry…
    await expect(verifyAccessToken(jwt, token, expiresAt)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    // … and by a server with another key, or other issuer or audience, whatever this one remembers.
    const other = { ...jwt, secret: new TextEncoder().encode('another-secret-another-secret-1234') };
    await expect(verifyAccessToken(other, token, t0)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(verifyAccessToken({ ...jwt, audience: 'someone-else' }, token, t0)).rejects.toMatchObject({
      code: 'TOKEN_INVALID',
    });
    // Over HTTP the session check still runs on a remembered token: signed out, it stops working at once.
    const fresh = await logIn(api, user.username, user.password);
    expect((await api.get('/api/users/me', { token: fresh.accessToken })).status).toBe(200);
    expect((await api.post('/api/auth/logout', undefined, { token: fresh.accessToken })).status).toBe(204);
    const after = await api.get('/api/users/me', { token: fresh.accessToken });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('SESSION_REVOKED');
  });

  it('lives 15 minutes', async () => {
    const [, payload] = user.accessToken.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    expect(claims.exp - claims.iat).toBe(900);
    expect(claims.aud).toBe(server.config.jwt.audience);
    expect(claims.iss).toBe(server.config.jwt.issuer);
  });

  it('refuses garbage in the Authorization header', async () => {
    for (const header of ['Bearer', 'Bearer not.a.jwt', 'Basic abc', 'Bearer ' + 'x'.repeat(5000)]) {
      const res = await api.get('/api/users/me', { headers: { authorization: header } });
      expect(res.status).toBe(401);
    }
  });
});

describe('refresh tokens', () => {
  it('rotate on every use, and reusing a spent one revokes the whole session', async () => {
    const user = await registerUser(api);
    const first = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    expect(first.status).toBe(200);
    expect(first.body.refreshToken).not.toBe(user.refreshToken);
    expect(first.body.sessionId).toBe(user.sessionId);
    const second = await api.post('/api/auth/refresh', { refreshToken: first.body.refreshToken });
    expect(second.status).toBe(200);

    const replay = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('REFRESH_TOKEN_REUSED');
    // The newest token and the access tokens of that session are dead too.
    expect((await api.post('/api/auth/refresh', { refreshToken: second.body.refreshToken })).status).toBe(
      401,
    );
    const me = await api.get('/api/users/me', { token: second.body.accessToken });
    expect(me.status).toBe(401);
    expect(me.body.error.code).toBe('SESSION_REVOKED');
  });

  it('concurrent refreshes with one token (two tabs) all get the same new pair, and the session lives on', async () => {
    const user = await registerUser(api);
    const results = await Promise.all(
      [1, 2, 3].map(() => api.post('/api/auth/refresh', { refreshToken: user.refreshToken })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const successors = new Set(results.map((r) => r.body.refreshToken as string));
    expect(successors.size).toBe(1);
    const [successor] = [...successors];
    expect(successor).not.toBe(user.refreshToken);
    for (const r of results) {
      expect((await api.get('/api/users/me', { token: r.body.accessToken })).status).toBe(200);
    }
    const next = await api.post('/api/auth/refresh', { refreshToken: successor });
    expect(next.status).toBe(200);
  });

  it('refuses an unknown token and a missing one', async () => {
    expect((await api.post('/api/auth/refresh', { refreshToken: 'nonsense' })).body.error.code).toBe(
      'REFRESH_TOKEN_INVALID',
    );
    expect((await api.post('/api/auth/refresh', {})).body.error.code).toBe('REFRESH_TOKEN_INVALID');
  });

  it('expire after 7 days, and the session after its absolute lifetime however often it rotates', async () => {
    const user = await registerUser(api);
    server.clock.advance(7 * 86_400_000 + 1000);
    try {
      const expired = await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
      expect(expired.status).toBe(401);
      expect(expired.body.error.code).toBe('REFRESH_TOKEN_INVALID');
    } finally {
      server.clock.advance(-(7 * 86_400_000 + 1000));
    }

    const other = await registerUser(api);
    let token = other.refreshToken;
    let moved = 0;
    try {
      // Rotate every 6 days: each token stays fresh, but the 30-day session ends.
      for (let day = 6; day <= 36; day += 6) {
        server.clock.advance(6 * 86_400_000);
        moved += 6 * 86_400_000;
        const res = await api.post('/api/auth/refresh', { refreshToken: token });
        if (day < 30) {
          expect(res.status).toBe(200);
          token = res.body.refreshToken;
        } else {
          expect(res.status).toBe(401);
          return;
        }
      }
      throw new Error('session outlived its absolute lifetime');
    } finally {
      server.clock.advance(-moved);
    }
  });

  it('for the web app, travel only in an HttpOnly, Secure, SameSite=Strict cookie scoped to /api/auth', async () => {
    const username = uniqueName('web');
    const res = await api.post('/api/auth/register', {
      username,
      email: `${username}@example.test`,
      password: 'longenough',
      displayName: 'Web',
      refreshTokenDelivery: 'cookie',
    });
    expect(res.status).toBe(201);
    expect(res.body.refreshToken).toBeUndefined();
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^parley_refresh=[^;]+;/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/Secure/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\/api\/auth/i);
    const cookie = setCookie.split(';')[0]!;
    // Beside it, a hint without a secret that the web app can read: there is a session.
    const hint = res.headers.getSetCookie().find((c) => c.startsWith('parley_session='));
    expect(hint).toMatch(/^parley_session=1;/);
    expect(hint).not.toMatch(/HttpOnly/i);
    expect(hint).toMatch(/Path=\/;/i);
    expect(hint).toMatch(/SameSite=Strict/i);

    const refreshed = await api.post('/api/auth/refresh', {}, { headers: { cookie } });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refreshToken).toBeUndefined();
    const next = (refreshed.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(next).not.toBe(cookie);
    // The spent cookie, past the reuse grace window, revokes the session and is cleared.
    server.clock.advance(server.config.refreshReuseGraceMs + 1_000);
    const replay = await api.post('/api/auth/refresh', undefined, { headers: { cookie } });
    server.clock.advance(-(server.config.refreshReuseGraceMs + 1_000));
    expect(replay.status).toBe(401);
    expect(replay.headers.get('set-cookie')).toMatch(/parley_refresh=;/);
    expect(replay.headers.getSetCookie().some((c) => /^parley_session=;/.test(c))).toBe(true);
  });
});

describe('sessions', () => {
  it('lists device sessions, marks the current one, and revokes another', async () => {
    const user = await registerUser(api, { deviceName: 'Laptop' });
    const phone = await logIn(api, user.username, user.password, 'Phone');
    const list = await api.get('/api/auth/sessions', { token: user.accessToken });
    expect(list.status).toBe(200);
    expect(list.body.sessions).toHaveLength(2);
    const byName = Object.fromEntries(list.body.sessions.map((s: any) => [s.deviceName, s]));
    expect(byName.Laptop.current).toBe(true);
    expect(byName.Phone.current).toBe(false);
    expect(byName.Phone).toEqual(
      expect.objectContaining({
        platform: 'test',
        lastActiveAt: expect.any(String),
        createdAt: expect.any(String),
      }),
    );

    expect((await api.del(`/api/auth/sessions/${phone.sessionId}`, { token: user.accessToken })).status).toBe(
      204,
    );
    expect((await api.get('/api/users/me', { token: phone.accessToken })).status).toBe(401);
    expect((await api.post('/api/auth/refresh', { refreshToken: phone.refreshToken })).status).toBe(401);
    const after = await api.get('/api/auth/sessions', { token: user.accessToken });
    expect(after.body.sessions.map((s: any) => s.deviceName)).toEqual(['Laptop']);
  });

  it('names a device from its User-Agent when the client sends no name', async () => {
    const user = await registerUser(api);
    const agents = {
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0':
        'Firefox on Windows',
      'curl/8.5.0': 'curl',
      '': 'Unknown device',
    };
    for (const agent of Object.keys(agents)) {
      const res = await api.post(
        '/api/auth/login',
        { login: user.username, password: user.password },
        { headers: { 'user-agent': agent } },
      );
      expect(res.status).toBe(200);
    }
    const list = await api.get('/api/auth/sessions', { token: user.accessToken });
    const names = list.body.sessions.map((s: any) => s.deviceName);
    expect(names).toEqual(expect.arrayContaining(Object.values(agents)));
  });

  it("answers 404 for someone else's session and leaves it alone", async () => {
    const alice = await registerUser(api);
    const bob = await registerUser(api);
    const res = await api.del(`/api/auth/sessions/${bob.sessionId}`, { token: alice.accessToken });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect((await api.get('/api/users/me', { token: bob.accessToken })).status).toBe(200);
    expect((await api.del('/api/auth/sessions/not-a-uuid', { token: alice.accessToken })).status).toBe(400);
  });

  it('logout ends this session only', async () => {
    const user = await registerUser(api);
    const other = await logIn(api, user.username, user.password);
    expect((await api.post('/api/auth/logout', undefined, { token: user.accessToken })).status).toBe(204);
    expect((await api.get('/api/users/me', { token: user.accessToken })).status).toBe(401);
    expect((await api.post('/api/auth/refresh', { refreshToken: user.refreshToken })).status).toBe(401);
    expect((await api.get('/api/users/me', { token: other.accessToken })).status).toBe(200);
  });
});

describe('password change', () => {
  it('needs the current password and signs out every other session', async () => {
    const user = await registerUser(api);
    const other = await logIn(api, user.username, user.password);
    const wrong = await api.put(
      '/api/users/me/password',
      { currentPassword: 'nope-nope', newPassword: 'brand new password' },
      { token: user.accessToken },
    );
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('WRONG_CURRENT_PASSWORD');
    const tooShort = await api.put(
      '/api/users/me/password',
      { currentPassword: user.password, newPassword: 'short' },
      { token: user.accessToken },
    );
    expect(tooShort.status).toBe(400);
    expect(tooShort.body.error.details[0].path).toBe('newPassword');

    const ok = await api.put(
      '/api/users/me/password',
      { currentPassword: user.password, newPassword: 'brand new password' },
      { token: user.accessToken },
    );
    expect(ok.status).toBe(204);
    expect((await api.get('/api/users/me', { token: user.accessToken })).status).toBe(200);
    expect((await api.get('/api/users/me', { token: other.accessToken })).status).toBe(401);
    expect((await api.post('/api/auth/refresh', { refreshToken: other.refreshToken })).status).toBe(401);
    expect(
      (await api.post('/api/auth/login', { login: user.username, password: user.password })).status,
    ).toBe(401);
    expect(
      (await api.post('/api/auth/login', { login: user.username, password: 'brand new password' })).status,
    ).toBe(200);
  });
});

describe('logs', () => {
  it('never contain passwords, tokens or cookies', async () => {
    const user = await registerUser(api, { password: 'SECRET-PASSWORD-xyz' });
    await api.post('/api/auth/login', { login: user.username, password: 'SECRET-WRONG-abc' });
    await api.post('/api/auth/refresh', { refreshToken: user.refreshToken });
    await api.get('/api/users/me', { token: user.accessToken });
    const all = server.logs.join('\n');
    expect(all).toContain('/api/auth/register');
    for (const secret of ['SECRET-PASSWORD-xyz', 'SECRET-WRONG-abc', user.refreshToken, user.accessToken]) {
      expect(all).not.toContain(secret);
    }
  });
});
