/**
 * Delivery over real WebSockets: ordering and exactly-once after dedupe under concurrent
 * sends, idempotent retries, resume after being offline, re-sync when the position is gone.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { createGroup, registerUser, sendText, type TestUser } from '../../test/support/factories.js';
import { client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import {
  connectAs,
  lastPosition,
  WS_WAIT_MS,
  wsUrl,
  type Frame,
  type WsClient,
} from '../../test/support/ws.js';

let server: TestServer;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  // A small inbox, so that "the position is gone" can be reached with a few hundred events.
  server = await startTestServer({ INBOX_SIZE: '150', SEND_RATE_PER_SECOND: '1000' });
  api = client(server.url);
});
afterAll(async () => {
  await server.close();
});

const isNew = (chatId: string) => (f: Frame) => f.type === 'message:new' && f.data.message.chatId === chatId;
const messageId = (f: Frame) => f.data.message.id as string;

/**
 * What a client keeps of message:new frames: the first frame of each message, in arrival
 * order (delivery is at least once; clients dedupe by message id).
 */
function deduped(frames: Frame[]): Frame[] {
  const seen = new Set<string>();
  return frames.filter((f) => !seen.has(messageId(f)) && seen.add(messageId(f)));
}

/**
 * Waits until another device of the same user has had each of these messages: they are then
 * in the user's inbox. (A send is acked at commit and the relay appends to inboxes just
 * after, so a resume right after the last ack could otherwise race the relay.)
 */
async function inInbox(device: WsClient, messageIds: string[]) {
  const wanted = new Set(messageIds);
  const isWanted = (f: Frame) => f.type === 'message:new' && wanted.has(messageId(f));
  await device.waitForDistinct(isWanted, messageId, wanted.size);
}

/** Fetches every message of a chat after `afterSeq` through REST, page by page. */
async function fetchAfter(user: TestUser, chatId: string, afterSeq: number) {
  const all: any[] = [];
  let after = afterSeq;
  for (;;) {
    const res = await api.get(`/api/chats/${chatId}/messages?after=${after}&limit=100`, {
      token: user.accessToken,
    });
    expect(res.status).toBe(200);
    all.push(...res.body.messages);
    if (!res.body.hasMoreAfter) return all;
    after = res.body.messages.at(-1).seq;
  }
}

test('300 concurrent sends from three users reach every member exactly once, in seq order with no gap', async () => {
  const [a, b, c, watcher] = await Promise.all([1, 2, 3, 4].map(() => registerUser(api)));
  const group = await createGroup(api, a!, [b!, c!, watcher!]);
  const senders = [a!, b!, c!];
  const sockets = await Promise.all(senders.map((u) => connectAs(server.url, u.accessToken)));
  // The watcher has two devices: each must get everything.
  const watcherDevices = [
    await connectAs(server.url, watcher!.accessToken),
    await connectAs(server.url, watcher!.accessToken),
  ];
  const startSeq = group.lastSeq;

  const acks = await Promise.all(
    sockets.flatMap((ws, i) =>
      Array.from({ length: 100 }, (_, n) =>
        ws.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: `from ${i}: ${n}` }),
      ),
    ),
  );
  expect(acks.filter((a) => !a.ok)).toEqual([]);
  const ackedSeqs = acks.map((a) => a.data.message.seq as number).sort((x, y) => x - y);
  expect(ackedSeqs).toEqual(Array.from({ length: 300 }, (_, i) => startSeq + 1 + i));

  for (const ws of [...sockets, ...watcherDevices]) {
    // Every message at least once; kept as a client keeps them, the first copy of each.
    const frames = await ws.waitForDistinct(isNew(group.id), messageId, 300);
    expect(frames).toHaveLength(300);
    // In arrival order, seqs strictly increase with no gap.
    const order = frames.map((f) => f.data.message.seq as number);
    expect(order).toEqual(Array.from({ length: 300 }, (_, i) => startSeq + 1 + i));
    // Inbox positions only grow.
    const positions = frames.map((f) => Number(f.position!.split('.')[1]));
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
  }
  // Each sender's own messages keep their send order.
  for (let i = 0; i < 3; i++) {
    const own = acks.slice(i * 100, i * 100 + 100).map((a) => a.data.message.seq as number);
    expect(own).toEqual([...own].sort((x, y) => x - y));
  }
  // The database agrees.
  const stored = await fetchAfter(watcher!, group.id, startSeq);
  expect(stored.map((m) => m.seq)).toEqual(ackedSeqs);
  await Promise.all([...sockets, ...watcherDevices].map((ws) => ws.close()));
}, 180_000);

test('a retried send with the same clientMsgId returns the original, over WebSocket and REST', async () => {
  const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
  const group = await createGroup(api, a, [b]);
  const ws = await connectAs(server.url, a.accessToken);
  const wb = await connectAs(server.url, b.accessToken);
  const clientMsgId = randomUUID();
  const first = await ws.command('message:send', { chatId: group.id, clientMsgId, body: 'once' });
  const again = await ws.command('message:send', { chatId: group.id, clientMsgId, body: 'once' });
  // Two copies racing at the same moment.
  const racing = randomUUID();
  const [r1, r2] = await Promise.all([
    ws.command('message:send', { chatId: group.id, clientMsgId: racing, body: 'race' }),
    api.post(
      `/api/chats/${group.id}/messages`,
      { clientMsgId: racing, body: 'race' },
      { token: a.accessToken },
    ),
  ]);
  const viaRest = await api.post(
    `/api/chats/${group.id}/messages`,
    { clientMsgId, body: 'once' },
    { token: a.accessToken },
  );
  expect(first.data.duplicate).toBe(false);
  expect(again.data).toMatchObject({ duplicate: true, message: { id: first.data.message.id } });
  expect(viaRest.status).toBe(200);
  expect(viaRest.body.id).toBe(first.data.message.id);
  expect(r1.data.message.id).toBe(r2.body.id);
  const page = await api.get(`/api/chats/${group.id}/messages`, { token: b.accessToken });
  expect(page.body.messages.filter((m: any) => m.kind === 'text').map((m: any) => m.body)).toEqual([
    'once',
    'race',
  ]);
  // b hears of two messages and no third: a later message (the sentinel) arrives after them.
  const sentinel = await sendText(api, a, group.id, 'sentinel');
  await wb.waitFor((f) => isNew(group.id)(f) && messageId(f) === sentinel.id);
  const before = deduped(wb.events.filter(isNew(group.id))).filter((f) => messageId(f) !== sentinel.id);
  expect(before.map(messageId)).toEqual([first.data.message.id, r1.data.message.id]);
  await ws.close();
  await wb.close();
});

describe('resume', () => {
  test('a user offline during 100 messages gets all of them after sync:resume, in order', async () => {
    const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
    const group = await createGroup(api, a, [b]);
    const first = await connectAs(server.url, b.accessToken);
    // b's phone stays online: it shows when the inbox holds all of them.
    const phone = await connectAs(server.url, b.accessToken);
    const before = await sendText(api, a, group.id, 'before');
    await first.waitFor((f) => isNew(group.id)(f) && messageId(f) === before.id);
    const stored = lastPosition(first, first.position);
    await first.close();

    const sender = await connectAs(server.url, a.accessToken);
    const sent: string[] = [];
    for (let n = 0; n < 100; n++) {
      const ack = await sender.command('message:send', {
        chatId: group.id,
        clientMsgId: randomUUID(),
        body: `m${n}`,
      });
      expect(ack.ok).toBe(true);
      sent.push(ack.data.message.id);
    }
    await inInbox(phone, sent);
    const back = await connectAs(server.url, b.accessToken);
    const resume = await back.command('sync:resume', { position: stored });
    expect(resume.data).toMatchObject({ resumed: true });
    expect(resume.data.replayed).toBeGreaterThanOrEqual(100);
    // The replay came before the ack, in order.
    const got = deduped(back.events.filter(isNew(group.id))).map((f) => f.data.message.body);
    expect(got).toEqual(Array.from({ length: 100 }, (_, n) => `m${n}`));
    // Live events continue after the replay, with positions still growing.
    await sendText(api, a, group.id, 'live');
    const live = await back.waitFor((f) => isNew(group.id)(f) && f.data.message.body === 'live');
    expect(live.position).not.toBe(resume.data.position);
    await sender.close();
    await Promise.all([phone.close(), back.close()]);
  });

  test('a device cut off mid-stream resumes without losing or repeating what it processed', async () => {
    const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
    const group = await createGroup(api, a, [b]);
    const device = await connectAs(server.url, b.accessToken);
    const phone = await connectAs(server.url, b.accessToken);
    const sender = await connectAs(server.url, a.accessToken);
    const sends = Array.from({ length: 60 }, (_, n) =>
      sender.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: `s${n}` }),
    );
    await device.waitForCount(isNew(group.id), 10);
    device.socket.terminate(); // the network drops, mid-stream
    const processed = device.events.filter(isNew(group.id));
    const position = processed.at(-1)!.position!;
    const acks = await Promise.all(sends);
    expect(acks.filter((ack) => !ack.ok)).toEqual([]);
    await inInbox(
      phone,
      acks.map((ack) => ack.data.message.id),
    );
    const back = await connectAs(server.url, b.accessToken);
    const resume = await back.command('sync:resume', { position });
    expect(resume.data.resumed).toBe(true);
    const rest = back.events.filter(isNew(group.id));
    const bodies = deduped([...processed, ...rest]).map((f) => f.data.message.body);
    expect(bodies).toEqual(Array.from({ length: 60 }, (_, n) => `s${n}`));
    await sender.close();
    await Promise.all([phone.close(), back.close()]);
  });

  test('no event reaches a socket before its auth ack, even while messages keep arriving', async () => {
    // A device resumes from the last position it processed: an event before the ack would
    // move that position past what it missed while away.
    const [a, b, c] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const group = await createGroup(api, a, [b, c]);
    const sender = await connectAs(server.url, a.accessToken);
    const online = await connectAs(server.url, c.accessToken); // b's presence has an audience
    let sending = true;
    const sends: Promise<Frame>[] = [];
    const pump = (async () => {
      for (let n = 0; sending && n < 2000; n++) {
        sends.push(
          sender.command('message:send', { chatId: group.id, clientMsgId: randomUUID(), body: `p${n}` }),
        );
        if (n % 5 === 4) await sends.at(-1);
      }
    })();
    const firstFrames: string[] = [];
    for (let i = 0; i < 40; i++) {
      const raw = new WebSocket(wsUrl(server.url));
      const frames: Frame[] = [];
      raw.on('message', (data) => frames.push(JSON.parse(data.toString())));
      await new Promise((resolve, reject) => raw.once('open', resolve).once('error', reject));
      raw.send(JSON.stringify({ type: 'auth', id: 'auth', data: { token: b.accessToken } }));
      const deadline = Date.now() + WS_WAIT_MS;
      while (!frames.some((f) => f.type === 'ack') && Date.now() < deadline) await sleep(5);
      // Wait a moment longer, so frames that were pushed right behind the ack are seen too.
      await sleep(20);
      firstFrames.push(frames[0]?.type ?? 'none');
      raw.terminate();
    }
    sending = false;
    await pump;
    expect((await Promise.all(sends)).filter((ack) => !ack.ok)).toEqual([]);
    expect(new Set(firstFrames)).toEqual(new Set(['ack']));
    await Promise.all([sender.close(), online.close()]);
  });

  test('an unknown position gets sync:resync, and REST re-sync recovers every message', async () => {
    const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
    const group = await createGroup(api, a, [b]);
    for (let n = 0; n < 100; n++) await sendText(api, a, group.id, `r${n}`);
    const back = await connectAs(server.url, b.accessToken);
    const resume = await back.command('sync:resume', { position: 'another-run.17' });
    expect(resume.data).toMatchObject({ resumed: false, replayed: 0 });
    const resync = await back.waitFor((f) => f.type === 'sync:resync');
    expect(resync.data.reason).toBe('position_unknown');
    // Re-sync as specs/protocol.md says: chats, then messages after the last seq we had.
    const chats = await api.get('/api/chats', { token: b.accessToken });
    const chat = chats.body.chats.find((c: any) => c.id === group.id);
    expect(chat.lastSeq).toBe(101);
    const messages = await fetchAfter(b, group.id, 1);
    expect(messages.map((m) => m.body)).toEqual(Array.from({ length: 100 }, (_, n) => `r${n}`));
    await back.close();
  });

  test('a position trimmed from the inbox gets sync:resync (position_trimmed)', async () => {
    const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
    const group = await createGroup(api, a, [b]);
    const first = await connectAs(server.url, b.accessToken);
    const phone = await connectAs(server.url, b.accessToken);
    const old = first.position;
    await first.close();
    // More events than the inbox (150) holds.
    const sent: string[] = [];
    for (let n = 0; n < 200; n++) sent.push((await sendText(api, a, group.id, `t${n}`)).id);
    await inInbox(phone, sent);
    await phone.close();
    const back = await connectAs(server.url, b.accessToken);
    const resume = await back.command('sync:resume', { position: old });
    expect(resume.data.resumed).toBe(false);
    expect((await back.waitFor((f) => f.type === 'sync:resync')).data.reason).toBe('position_trimmed');
    expect(await fetchAfter(b, group.id, 1)).toHaveLength(200);
    await back.close();
  });
});

test('an event arrives only after its transaction committed: the message is already readable', async () => {
  const [a, b] = await Promise.all([registerUser(api), registerUser(api)]);
  const group = await createGroup(api, a, [b]);
  const wb = await connectAs(server.url, b.accessToken);
  const checks: Promise<boolean>[] = [];
  wb.socket.on('message', (raw) => {
    const frame = JSON.parse(raw.toString());
    if (frame.type !== 'message:new') return;
    // Read it back at once, from another connection.
    checks.push(
      api
        .get(`/api/chats/${group.id}/messages?after=${frame.data.message.seq - 1}&limit=1`, {
          token: b.accessToken,
        })
        .then((res) => res.body.messages[0]?.id === frame.data.message.id),
    );
  });
  for (let n = 0; n < 10; n++) await sendText(api, a, group.id, `c${n}`);
  await wb.waitForCount(isNew(group.id), 10);
  expect(await Promise.all(checks)).toEqual(Array(10).fill(true));
  // A refused send (reply to a message of another chat) produces no event.
  const other = await createGroup(api, a, [b]);
  const foreign = await sendText(api, a, other.id, 'elsewhere');
  const before = wb.events.filter(isNew(group.id)).length;
  const refused = await api.post(
    `/api/chats/${group.id}/messages`,
    { clientMsgId: randomUUID(), body: 'x', replyTo: foreign.id },
    { token: a.accessToken },
  );
  expect(refused.status).toBe(400);
  await new Promise((r) => setTimeout(r, 200));
  expect(wb.events.filter(isNew(group.id))).toHaveLength(before);
  await wb.close();
});

test('a device that is up to date is handed each new event as published, without reading its inbox', async () => {
  const a = await registerUser(api);
  const b = await registerUser(api);
  const group = await createGroup(api, a, [b]);
  const sender = await connectAs(server.url, a.accessToken);
  const reader = await connectAs(server.url, b.accessToken);
  const warmUp = await sendText(api, a, group.id, 'warm-up');
  await reader.waitFor((f) => isNew(group.id)(f) && messageId(f) === warmUp.id);
  const { inbox } = server.running.ctx;
  const reads: string[] = [];
  const readAfter = inbox.readAfter.bind(inbox);
  inbox.readAfter = (userId, position, limit) => {
    reads.push(userId);
    return readAfter(userId, position, limit);
  };
  try {
    for (let n = 0; n < 10; n++) {
      const ack = await sender.command('message:send', {
        chatId: group.id,
        clientMsgId: randomUUID(),
        body: `live ${n}`,
      });
      expect(ack.ok).toBe(true);
      await reader.waitFor((f) => isNew(group.id)(f) && messageId(f) === ack.data.message.id);
    }
    expect(reads).toEqual([]);
    // Positions still chain: each frame's position reads back as the one after the last.
    const frames = reader.events.filter(isNew(group.id));
    const check = await readAfter(b.id, frames.at(-2)!.position!, 10);
    expect(check).toMatchObject({ ok: true, entries: [{ position: frames.at(-1)!.position }] });
  } finally {
    inbox.readAfter = readAfter;
  }
  await Promise.all([sender.close(), reader.close()]);
});
