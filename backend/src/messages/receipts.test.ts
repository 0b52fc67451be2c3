/**
 * Delivery receipts are coalesced: whatever was handed to devices since the last flush
 * becomes one message:delivered per chat, listing every member whose position moved, for
 * the senders of what was delivered. The flush runs by hand here (a long RECEIPT_FLUSH_MS),
 * so the counts do not depend on timing.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createGroup, registerUsers, type TestUser } from '../../test/support/factories.js';
import { as, client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame, type WsClient } from '../../test/support/ws.js';

const WAIT = 60_000;

let server: TestServer;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  server = await startTestServer({ RECEIPT_FLUSH_MS: '600000', SEND_RATE_PER_SECOND: '1000' });
  api = client(server.url);
});
afterAll(async () => {
  await server.close();
});

const delivered = (chatId: string) => (f: Frame) =>
  f.type === 'message:delivered' && f.data.chatId === chatId;
const isNew = (chatId: string) => (f: Frame) => f.type === 'message:new' && f.data.message.chatId === chatId;

test('a burst into a group becomes one receipt event per flush, naming every member who got it', async () => {
  const [a, b, c, d] = (await registerUsers(api, 4)) as [TestUser, TestUser, TestUser, TestUser];
  const group = await createGroup(api, a, [b, c, d]);
  const [wa, wb, wc, wd] = (await Promise.all(
    [a, b, c, d].map((u) => connectAs(server.url, u.accessToken)),
  )) as unknown as [WsClient, WsClient, WsClient, WsClient];
  const acks = await Promise.all(
    Array.from({ length: 5 }, (_, n) =>
      wa.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: `m${n}` }, WAIT),
    ),
  );
  const last = Math.max(...acks.map((ack) => ack.data.message.seq as number));
  // 15 deliveries (5 messages × 3 devices)...
  await Promise.all([wb, wc, wd].map((ws) => ws.waitForCount(isNew(group.id), 5, WAIT)));
  await server.running.ctx.deliveries.flush();
  // ...one event, to the sender.
  const [event] = await wa.waitForCount(delivered(group.id), 1, WAIT);
  expect(event!.data.receipts).toEqual(
    expect.arrayContaining([b, c, d].map((u) => ({ userId: u.id, upToSeq: last }))),
  );
  expect(event!.data.receipts).toHaveLength(3);
  await server.running.ctx.deliveries.flush();
  expect(wa.events.filter(delivered(group.id))).toHaveLength(1);
  // The members who only received hear nothing about receipts.
  for (const ws of [wb, wc, wd]) expect(ws.events.filter(delivered(group.id))).toEqual([]);

  // b answers: the receipts for b's message go to b, not to a.
  const answer = await wb.command(
    'message:send',
    { chatId: group.id, clientMsgId: randomUUID(), body: 'hi' },
    WAIT,
  );
  await Promise.all(
    [wa, wc, wd].map((ws) =>
      ws.waitFor((f) => isNew(group.id)(f) && f.data.message.id === answer.data.message.id, WAIT),
    ),
  );
  await server.running.ctx.deliveries.flush();
  const [toB] = await wb.waitForCount(delivered(group.id), 1, WAIT);
  expect(toB!.data.receipts).toHaveLength(3);
  expect(toB!.data.receipts).toEqual(
    expect.arrayContaining([a, c, d].map((u) => ({ userId: u.id, upToSeq: answer.data.message.seq }))),
  );
  expect(wa.events.filter(delivered(group.id))).toHaveLength(1);

  // The members list tells the same positions.
  const members = await api.get(`/api/chats/${group.id}/members`, as(a));
  const byId = Object.fromEntries(members.body.members.map((m: any) => [m.user.id, m]));
  expect(byId[c.id]).toMatchObject({ lastDeliveredSeq: answer.data.message.seq });
  await Promise.all([wa, wb, wc, wd].map((ws) => ws.close()));
});

test('nothing is delivered to a member with no device: no receipt until one of theirs gets it', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const wa = await connectAs(server.url, a.accessToken);
  const ack = await wa.command(
    'message:send',
    { chatId: group.id, clientMsgId: randomUUID(), body: 'x' },
    WAIT,
  );
  await server.running.ctx.deliveries.flush();
  expect(wa.events.filter(delivered(group.id))).toEqual([]);
  const wb = await connectAs(server.url, b.accessToken);
  // b's device catches up over REST: that is a delivery too.
  await api.get(`/api/chats/${group.id}/messages`, as(b));
  await server.running.ctx.deliveries.flush();
  const [event] = await wa.waitForCount(delivered(group.id), 1, WAIT);
  expect(event!.data.receipts).toEqual([{ userId: b.id, upToSeq: ack.data.message.seq }]);
  await Promise.all([wa.close(), wb.close()]);
});
