/**
 * Presence through a database outage: someone whose last socket closes while PostgreSQL
 * is unreachable is still announced offline to the people who see their presence, once
 * the database is back (PostgreSQL only: the outage is a proxy that cuts connections).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createGroup, registerUsers, type TestUser } from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { testDbMode } from '../../test/support/database.js';
import { startPgProxy, type PgProxy } from '../../test/support/pg-proxy.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { waitUntil } from '../../test/support/wait.js';
import { connectAs } from '../../test/support/ws.js';

const WAIT = 60_000;
const onPostgres = testDbMode() === 'postgres' ? describe : describe.skip;

onPostgres('presence while the database is away', () => {
  let server: TestServer;
  let proxy: PgProxy;
  beforeAll(async () => {
    server = await startTestServer(
      { DATABASE_ACQUIRE_TIMEOUT_MS: '2000' },
      {
        database: async (target) => {
          if (target.kind !== 'postgres') throw new Error('PostgreSQL only');
          proxy = await startPgProxy(target.url);
          return { kind: 'postgres', url: proxy.url };
        },
      },
    );
  });
  afterAll(async () => {
    proxy?.restore();
    await server?.close();
    await proxy?.close();
  });

  test('a user whose last socket closed during the outage is announced offline when it is over', async () => {
    const api = client(server.url);
    const [leaver, watcher] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    await createGroup(api, watcher, [leaver]);
    const watching = await connectAs(server.url, watcher.accessToken);
    const leaving = await connectAs(server.url, leaver.accessToken);
    await watching.waitFor((f) => f.type === 'presence:online' && f.data.userId === leaver.id, WAIT);

    proxy.cutAll();
    await leaving.close();
    // The first announcement failed (its audience is read from the database)…
    await waitUntil(
      'the failed announcement to be logged',
      () =>
        server.logs.some((line) => /offline announcement failed|ws disconnect handling failed/.test(line)),
      WAIT,
    );
    proxy.restore();
    // …and a later try makes it.
    const offline = await watching.waitFor(
      (f) => f.type === 'presence:offline' && f.data.userId === leaver.id,
      WAIT,
    );
    expect(offline.data.lastSeenAt).toEqual(expect.any(String));
    await watching.close();
  });
});
