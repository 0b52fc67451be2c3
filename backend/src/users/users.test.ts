import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { registerUser, uniqueName, type TestUser } from '../../test/support/factories.js';
import { client, type Client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

let server: TestServer;
let api: Client;
let me: TestUser;

beforeAll(async () => {
  server = await startTestServer();
  api = client(server.url);
  me = await registerUser(api);
});
afterAll(() => server.close());

describe('profile', () => {
  it('edits display name, status text and availability, and shows them to others', async () => {
    const res = await api.put(
      '/api/users/me',
      { displayName: '  Ada L.  ', statusText: 'In a meeting', availability: 'busy' },
      { token: me.accessToken },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      displayName: 'Ada L.',
      statusText: 'In a meeting',
      availability: 'busy',
      email: me.email,
    });
    const other = await registerUser(api);
    const seen = await api.get(`/api/users/${me.id}`, { token: other.accessToken });
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: me.id, displayName: 'Ada L.', availability: 'busy' });
    expect(seen.body.email).toBeUndefined();
  });

  it('changes only the fields sent, and ignores fields it does not own', async () => {
    await api.put('/api/users/me', { statusText: 'first' }, { token: me.accessToken });
    const res = await api.put(
      '/api/users/me',
      { availability: 'away', id: randomUUID(), username: 'hijack', email: 'x@y.z' },
      { token: me.accessToken },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: me.id,
      username: me.username,
      email: me.email,
      statusText: 'first',
      availability: 'away',
    });
  });

  it.each([
    [{ availability: 'sleeping' }, 'availability'],
    [{ statusText: 's'.repeat(141) }, 'statusText'],
    [{ displayName: '   ' }, 'displayName'],
    [{ displayName: 'd'.repeat(65) }, 'displayName'],
  ])('rejects %j', async (body, field) => {
    const res = await api.put('/api/users/me', body, { token: me.accessToken });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe(field);
  });

  it('answers 404 for an unknown user and 400 for a malformed id', async () => {
    const unknown = await api.get(`/api/users/${randomUUID()}`, { token: me.accessToken });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    const bad = await api.get('/api/users/12345', { token: me.accessToken });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]).toMatchObject({ path: 'id', location: 'params' });
  });

  it('needs authentication', async () => {
    expect((await api.get(`/api/users/${me.id}`)).status).toBe(401);
    expect((await api.put('/api/users/me', { statusText: 'x' })).status).toBe(401);
  });
});

describe('search', () => {
  const prefix = `srch${Math.floor(Math.random() * 1e6)}`;
  let searcher: TestUser;
  beforeAll(async () => {
    searcher = await registerUser(api, { username: `${prefix}_self` });
    for (const n of ['anna', 'anton', 'bert', 'carl', 'dora']) {
      await registerUser(api, {
        username: `${prefix}_${n}`,
        displayName: `${n[0]!.toUpperCase()}${n.slice(1)} Example`,
      });
    }
    await registerUser(api, { username: uniqueName('zed'), displayName: `${prefix.toUpperCase()} By Name` });
  });

  const names = (res: { body: { users: { username: string }[] } }) => res.body.users.map((u) => u.username);

  it('matches a username or display-name prefix, case-insensitively, without the caller', async () => {
    const res = await api.get(`/api/users/search?q=${prefix}`, { token: searcher.accessToken });
    expect(res.status).toBe(200);
    expect(names(res)).toEqual(
      expect.arrayContaining(['anna', 'anton', 'bert', 'carl', 'dora'].map((n) => `${prefix}_${n}`)),
    );
    expect(names(res)).not.toContain(`${prefix}_self`);
    expect(res.body.users).toHaveLength(6);
    const byDisplay = await api.get('/api/users/search?q=ANT', { token: searcher.accessToken });
    expect(names(byDisplay)).toContain(`${prefix}_anton`);
    expect(byDisplay.body.users[0].email).toBeUndefined();
  });

  it('pages with a cursor, without overlap or gaps', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = `q=${prefix}_&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await api.get(`/api/users/search?${qs}`, { token: searcher.accessToken });
      expect(res.status).toBe(200);
      expect(res.body.users.length).toBeLessThanOrEqual(2);
      seen.push(...names(res));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual(['anna', 'anton', 'bert', 'carl', 'dora'].map((n) => `${prefix}_${n}`));
    expect(pages).toBe(3);
  });

  it('treats _ and % literally', async () => {
    const res = await api.get(`/api/users/search?q=${prefix}%25`, { token: searcher.accessToken });
    expect(res.status).toBe(200);
    expect(res.body.users).toEqual([]);
    const under = await api.get(`/api/users/search?q=${prefix.slice(0, -1)}_`, {
      token: searcher.accessToken,
    });
    expect(under.body.users).toEqual([]);
  });

  it('validates q, limit and cursor', async () => {
    expect((await api.get('/api/users/search?q=', { token: searcher.accessToken })).status).toBe(400);
    expect((await api.get('/api/users/search', { token: searcher.accessToken })).status).toBe(400);
    expect((await api.get('/api/users/search?q=a&limit=500', { token: searcher.accessToken })).status).toBe(
      400,
    );
    const badCursor = await api.get('/api/users/search?q=a&cursor=%25%25', { token: searcher.accessToken });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error.code).toBe('VALIDATION_ERROR');
  });
});
