import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { contract } from '@parley/contracts';
import { isAppRoute, type AppRoute, type AppRouter } from '@ts-rest/core';
import { registerUser } from '../../../test/support/factories.js';
import { client, type Client } from '../../../test/support/http.js';
import { startTestServer, type TestServer } from '../../../test/support/server.js';

let server: TestServer;
let api: Client;
const webDist = mkdtempSync(path.join(tmpdir(), 'parley-web-'));
writeFileSync(path.join(webDist, 'index.html'), '<!doctype html><div id="root">parley-spa</div>');

beforeAll(async () => {
  server = await startTestServer({
    BODY_LIMIT_BYTES: '4096',
    CORS_ORIGINS: 'https://chat.example.com',
    WEB_DIST_DIR: webDist,
  });
  api = client(server.url);
});
afterAll(() => server.close());

describe('errors', () => {
  it('malformed JSON is a 400 INVALID_JSON, not a stack trace', async () => {
    const res = await api.post('/api/auth/login', undefined, { raw: '{"login": "a", ' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'INVALID_JSON', message: expect.any(String) } });
    expect(res.text).not.toMatch(/at \w+ \(/);
  });

  it('wrong types are a 400 VALIDATION_ERROR with field paths', async () => {
    const res = await api.post('/api/auth/login', { login: 12, password: ['x'] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['login', 'password']);
  });

  it('a JSON body that is not an object is refused', async () => {
    const res = await api.post('/api/auth/login', undefined, { raw: '"just a string"' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
  });

  it('an oversized body is a 413', async () => {
    const res = await api.post('/api/auth/login', { login: 'x'.repeat(10_000), password: 'y' });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('a body that is not JSON is a 415', async () => {
    const res = await api.post('/api/auth/login', undefined, {
      raw: 'login=a&password=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('an unknown /api route is a JSON 404, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await api.request(method, '/api/no/such/route');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expect(res.body.error.code).toBe('ROUTE_NOT_FOUND');
    }
  });
});

describe('operations', () => {
  it('/health answers while alive; /health/ready checks the database, migrations and Redis', async () => {
    expect((await api.get('/health')).body).toEqual({ status: 'ok' });
    const ready = await api.get('/health/ready');
    expect(ready.status).toBe(200);
    // Redis only when the server has one (the suite's REDIS_URL run).
    const redis = server.config.redisUrl ? { redis: 'ok' } : {};
    expect(ready.body).toEqual({
      status: 'ready',
      checks: { server: 'ok', database: 'ok', migrations: 'ok', ...redis },
    });
  });

  it('/metrics exposes request durations by route pattern and status, and process metrics', async () => {
    const user = await registerUser(api);
    await api.get(`/api/users/${user.id}`, { token: user.accessToken });
    const res = await api.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(res.text).toMatch(
      /parley_http_request_duration_seconds_bucket\{[^}]*route="\/api\/users\/:id"[^}]*status_code="200"/,
    );
    expect(res.text).not.toContain(user.id);
    expect(res.text).toContain('parley_process_resident_memory_bytes');
  });

  it('every response has security headers and a request id; a sane incoming id is kept', async () => {
    const res = await api.get('/health', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-abc.123');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-frame-options')).toBeTruthy();
    const odd = await api.get('/health', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('CORS answers only the allowlisted origins', async () => {
    const allowed = await api.request('OPTIONS', '/api/auth/login', undefined, {
      headers: { origin: 'https://chat.example.com', 'access-control-request-method': 'POST' },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://chat.example.com');
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    const denied = await api.request('OPTIONS', '/api/auth/login', undefined, {
      headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' },
    });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('web app', () => {
  it.each(['/', '/login', '/chats/abc', '/chats/abc/messages/def', '/settings/sessions'])(
    'serves the app at %s (history fallback)',
    async (p) => {
      const res = await api.get(p);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(res.text).toContain('parley-spa');
    },
  );
});

describe('contract', () => {
  function contractRoutes(router: AppRouter | AppRoute): string[] {
    if (isAppRoute(router)) return [`${router.method} ${router.path}`];
    return Object.values(router).flatMap((r) => contractRoutes(r as AppRouter | AppRoute));
  }

  it('the server exposes exactly the /api routes the contract declares', () => {
    const declared = new Set(contractRoutes(contract));
    const served = new Set(
      server.running.app
        .registeredRoutes()
        .filter((r) => r.url.startsWith('/api') && r.method !== 'HEAD' && r.method !== 'OPTIONS')
        .map((r) => `${r.method} ${r.url}`),
    );
    expect([...served].filter((r) => !declared.has(r))).toEqual([]);
    expect([...declared].filter((r) => !served.has(r))).toEqual([]);
    expect(declared.size).toBeGreaterThanOrEqual(11);
  });
});
