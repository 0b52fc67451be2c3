/**
 * Fan-out goes to the members a message committed with, whatever a node has cached. Two
 * nodes on one PostgreSQL database with no bus between them (no Redis): the worst case of
 * an invalidation that has not arrived, which with Redis is a matter of milliseconds. A
 * member removed on one node must not get the next message fanned out by the other, and a
 * member added there must. (PostgreSQL only: PGlite is one process's database.)
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createGroup, registerUsers, sendText, type TestUser } from '../../test/support/factories.js';
import { as, client } from '../../test/support/http.js';
import { testDbMode } from '../../test/support/database.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs } from '../../test/support/ws.js';

const onPostgres = testDbMode() === 'postgres' ? describe : describe.skip;

onPostgres('membership versions across nodes whose caches were not told', () => {
  let one: TestServer;
  let two: TestServer;
  beforeAll(async () => {
    // No Redis: each node's bus and inboxes are its own, so nothing tells node two.
    one = await startTestServer({ REDIS_URL: '' });
    two = await startTestServer({ REDIS_URL: '' }, { database: async () => one.config.database });
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
  });

  test('a member removed or added on one node is left out of, or reached by, the next fan-out on the other', async () => {
    const viaOne = client(one.url);
    const viaTwo = client(two.url);
    const [owner, gone, joiner] = (await registerUsers(viaOne, 3)) as [TestUser, TestUser, TestUser];
    const group = await createGroup(viaOne, owner, [gone]);
    const goneOnTwo = await connectAs(two.url, gone.accessToken);
    const joinerOnTwo = await connectAs(two.url, joiner.accessToken);
    // Node two caches the group's members by fanning out a message.
    const first = await sendText(viaTwo, owner, group.id, 'everyone here');
    await goneOnTwo.waitFor((f) => f.type === 'message:new' && f.data.message.id === first.id);

    // On node one: one member out, one in. Node two hears nothing of it.
    expect((await viaOne.del(`/api/chats/${group.id}/members/${gone.id}`, as(owner))).status).toBe(204);
    expect(
      (await viaOne.post(`/api/chats/${group.id}/members`, { userIds: [joiner.id] }, as(owner))).status,
    ).toBe(200);

    const second = await sendText(viaTwo, owner, group.id, 'after the change');
    // A marker only the removed member gets (a direct chat on node two): whatever node two
    // sent them before it has arrived by then.
    const direct = await viaTwo.post('/api/chats/direct', { userId: gone.id }, as(owner));
    const marker = await sendText(viaTwo, owner, direct.body.id, 'marker');
    await goneOnTwo.waitFor((f) => f.type === 'message:new' && f.data.message.id === marker.id);
    expect(
      goneOnTwo.events.filter((f) => f.type === 'message:new' && f.data.message.id === second.id),
    ).toEqual([]);
    await joinerOnTwo.waitFor((f) => f.type === 'message:new' && f.data.message.id === second.id);
    await Promise.all([goneOnTwo.close(), joinerOnTwo.close()]);
  });
});
