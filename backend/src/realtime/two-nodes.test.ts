/**
 * Two nodes on one PostgreSQL database and one Redis (runs when the suite has REDIS_URL
 * and PostgreSQL; CI runs it so): an event committed on one node reaches sockets held by
 * the other, and a device resumes on either node from a position the other gave it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createGroup, registerUsers, type TestUser } from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { testDbMode } from '../../test/support/database.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, lastPosition, type Frame } from '../../test/support/ws.js';

const WAIT = 60_000;
const shared = Boolean(process.env.REDIS_URL) && testDbMode() === 'postgres';
const onTwoNodes = shared ? describe : describe.skip;

const isNew = (chatId: string) => (f: Frame) => f.type === 'message:new' && f.data.message.chatId === chatId;

onTwoNodes('two nodes sharing PostgreSQL and Redis', () => {
  let one: TestServer;
  let two: TestServer;
  beforeAll(async () => {
    one = await startTestServer({ SEND_RATE_PER_SECOND: '1000' });
    // The second node: the first one's database and Redis keys.
    two = await startTestServer(
      { SEND_RATE_PER_SECOND: '1000', REDIS_KEY_PREFIX: one.config.redisKeyPrefix },
      { database: async () => one.config.database },
    );
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
  });

  test('a message sent on one node reaches members on the other live, once each, in seq order', async () => {
    const api = client(one.url);
    const [a, b, c] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
    const group = await createGroup(api, a, [b, c]);
    const sender = await connectAs(one.url, a.accessToken);
    const onTwo = await connectAs(two.url, b.accessToken);
    const onOne = await connectAs(one.url, c.accessToken);
    const acks = await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        sender.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: `m${n}` }, WAIT),
      ),
    );
    expect(acks.filter((ack) => !ack.ok)).toEqual([]);
    const seqs = acks.map((ack) => ack.data.message.seq as number).sort((x, y) => x - y);
    for (const device of [onTwo, onOne]) {
      const got = await device.waitForCount(isNew(group.id), 30, WAIT);
      expect(got.map((f) => f.data.message.seq)).toEqual(seqs);
    }
    await Promise.all([sender.close(), onTwo.close(), onOne.close()]);
  });

  test('a device away from node two resumes on node one from the position node two gave it', async () => {
    const api = client(two.url);
    const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
    const group = await createGroup(api, a, [b]);
    const sender = await connectAs(one.url, a.accessToken);
    const first = await connectAs(two.url, b.accessToken);
    const before = await sender.command(
      'message:send',
      { chatId: group.id, clientMsgId: randomUUID(), body: 'before' },
      WAIT,
    );
    expect(before.ok).toBe(true);
    await first.waitFor(isNew(group.id), WAIT);
    const position = lastPosition(first, first.position);
    await first.close();

    const away: string[] = [];
    for (let n = 0; n < 20; n++) {
      const ack = await sender.command(
        'message:send',
        { chatId: group.id, clientMsgId: randomUUID(), body: `away ${n}` },
        WAIT,
      );
      expect(ack.ok).toBe(true);
      away.push(ack.data.message.id);
    }
    // The relay appends an event to every member's inbox at once, then wakes the sockets:
    // once the sender's own device has them all, b's inbox has them too.
    await sender.waitForCount((f) => isNew(group.id)(f) && away.includes(f.data.message.id), 20, WAIT);
    const back = await connectAs(one.url, b.accessToken);
    const resume = await back.command('sync:resume', { position }, WAIT);
    expect(resume.data).toMatchObject({ resumed: true });
    const got = back.events.filter(isNew(group.id)).map((f) => f.data.message.id);
    expect(got).toEqual(away);
    await Promise.all([sender.close(), back.close()]);
  });
});
