/**
 * Delivery receipts are coalesced: whatever devices acknowledged (sync:ack) since the last
 * flush becomes one message:delivered per chat, listing every member whose position moved,
 * for the senders of what was delivered. The flush runs by hand here (a long
 * RECEIPT_FLUSH_MS), and devices acknowledge by hand, so the counts do not depend on timing.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createGroup, openDirectChat, registerUsers, type TestUser } from '../../test/support/factories.js';
import { as, client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { MAX_UNACKED_BATCHES } from '../realtime/connection.js';
import { connectAs, lastPosition, type Frame, type WsClient } from '../../test/support/ws.js';

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
  // 15 deliveries (5 messages × 3 devices), each device confirming what it got...
  await Promise.all([wb, wc, wd].map((ws) => ws.waitForCount(isNew(group.id), 5, WAIT)));
  await Promise.all([wb, wc, wd].map((ws) => ws.ackAll()));
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
  await Promise.all([wa, wc, wd].map((ws) => ws.ackAll()));
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

/** b's lastDeliveredSeq in the chat, as a's members list tells it. */
async function deliveredSeqOf(viewer: TestUser, chatId: string, userId: string): Promise<number> {
  const members = await api.get(`/api/chats/${chatId}/members`, as(viewer));
  expect(members.status).toBe(200);
  return members.body.members.find((m: any) => m.user.id === userId).lastDeliveredSeq;
}

/**
 * Everything the recorder has written is in `ws`'s inbox once this returns: an event of the
 * user's own (their chat preferences) is appended after it, and waited for.
 */
async function barrier(user: TestUser, ws: WsClient, chatId: string): Promise<void> {
  const before = ws.events.length;
  await server.running.ctx.deliveries.flush();
  expect((await api.put(`/api/chats/${chatId}/preferences`, { archived: false }, as(user))).status).toBe(200);
  await ws.waitFor((f) => f.type === 'chat:preferences' && ws.events.indexOf(f) >= before, WAIT);
}

test('a frame written to a device is not a delivery: the device acknowledging it is', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const chat = await openDirectChat(api, a, b);
  const wa = await connectAs(server.url, a.accessToken);
  const wb = await connectAs(server.url, b.accessToken);
  const sent = await wa.command(
    'message:send',
    { chatId: chat.id, clientMsgId: randomUUID(), body: 'x' },
    WAIT,
  );
  const { seq } = sent.data.message;
  const frame = await wb.waitFor((f) => isNew(chat.id)(f) && f.data.message.seq === seq, WAIT);
  const deliveredBefore = await deliveredSeqOf(a, chat.id, b.id);
  expect(deliveredBefore).toBeLessThan(seq);

  // b's device has the frame (as far as the server can tell) but says nothing: not delivered.
  await barrier(a, wa, chat.id);
  expect(wa.events.filter(delivered(chat.id))).toEqual([]);
  expect(await deliveredSeqOf(a, chat.id, b.id)).toBe(deliveredBefore);
  // An ack of a position this socket was never sent changes nothing either.
  expect((await wb.ackUpTo('not-a-position-of-this-socket')).ok).toBe(true);
  await barrier(a, wa, chat.id);
  expect(wa.events.filter(delivered(chat.id))).toEqual([]);
  expect(await deliveredSeqOf(a, chat.id, b.id)).toBe(deliveredBefore);

  // The device acknowledges the frame's position: delivered.
  await wb.ackUpTo(frame.position!);
  await server.running.ctx.deliveries.flush();
  const [event] = await wa.waitForCount(delivered(chat.id), 1, WAIT);
  expect(event!.data.receipts).toEqual([{ userId: b.id, upToSeq: seq }]);
  expect(await deliveredSeqOf(a, chat.id, b.id)).toBe(seq);
  // The same ack again is already done: no second receipt.
  await wb.ackUpTo(frame.position!);
  await barrier(a, wa, chat.id);
  expect(wa.events.filter(delivered(chat.id))).toHaveLength(1);
  await Promise.all([wa.close(), wb.close()]);
});

test('an ack of a later position covers every batch sent before it, in every chat', async () => {
  const [a, b, c] = (await registerUsers(api, 3)) as [TestUser, TestUser, TestUser];
  const group = await createGroup(api, a, [b, c]);
  const direct = await openDirectChat(api, a, b);
  const wa = await connectAs(server.url, a.accessToken);
  const wb = await connectAs(server.url, b.accessToken);
  // One at a time, each waited for: separate frames (and batches) on b's socket.
  const seqs: Record<string, number> = {};
  for (const chatId of [group.id, group.id, direct.id]) {
    const ack = await wa.command('message:send', { chatId, clientMsgId: randomUUID(), body: 'y' }, WAIT);
    seqs[chatId] = ack.data.message.seq;
    await wb.waitFor((f) => isNew(chatId)(f) && f.data.message.id === ack.data.message.id, WAIT);
  }
  await barrier(a, wa, group.id);
  expect(wa.events.filter((f) => f.type === 'message:delivered')).toEqual([]);

  // Only the last frame's position: the group's two messages went before it.
  await wb.ackUpTo(lastPosition(wb, ''));
  await server.running.ctx.deliveries.flush();
  const [inGroup] = await wa.waitForCount(delivered(group.id), 1, WAIT);
  const [inDirect] = await wa.waitForCount(delivered(direct.id), 1, WAIT);
  expect(inGroup!.data.receipts).toEqual([{ userId: b.id, upToSeq: seqs[group.id] }]);
  expect(inDirect!.data.receipts).toEqual([{ userId: b.id, upToSeq: seqs[direct.id] }]);
  expect(await deliveredSeqOf(a, group.id, b.id)).toBe(seqs[group.id]);
  expect(await deliveredSeqOf(a, direct.id, b.id)).toBe(seqs[direct.id]);
  // c, who has no device, still has nothing delivered.
  expect(await deliveredSeqOf(a, group.id, c.id)).toBeLessThan(seqs[group.id]!);
  await Promise.all([wa.close(), wb.close()]);
});

test('a device that never acknowledges costs a bounded memory: beyond 256 batches the oldest go unrecorded', async () => {
  const [a, b] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = await createGroup(api, a, [b]);
  const direct = await openDirectChat(api, a, b);
  const wa = await connectAs(server.url, a.accessToken);
  const wb = await connectAs(server.url, b.accessToken);
  const send = async (chatId: string) => {
    const ack = await wa.command('message:send', { chatId, clientMsgId: randomUUID(), body: 'z' }, WAIT);
    // Waited for, so each is a batch of its own on b's socket.
    await wb.waitFor((f) => isNew(chatId)(f) && f.data.message.id === ack.data.message.id, WAIT);
    return ack.data.message.seq as number;
  };
  // The first batch is in the direct chat, then 256 in the group: the first is dropped.
  const first = await send(direct.id);
  let last = 0;
  for (let n = 0; n < MAX_UNACKED_BATCHES; n++) last = await send(group.id);
  await wb.ackUpTo(lastPosition(wb, ''));
  await barrier(a, wa, group.id);
  expect(await deliveredSeqOf(a, group.id, b.id)).toBe(last);
  expect(await deliveredSeqOf(a, direct.id, b.id)).toBeLessThan(first);
  // Its position is no longer known: acknowledging it changes nothing.
  const firstFrame = wb.events.find((f) => isNew(direct.id)(f) && f.data.message.seq === first)!;
  await wb.ackUpTo(firstFrame.position!);
  await barrier(a, wa, direct.id);
  expect(await deliveredSeqOf(a, direct.id, b.id)).toBeLessThan(first);
  await Promise.all([wa.close(), wb.close()]);
}, 300_000);
