import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createGroup,
  openDirectChat,
  registerUser,
  registerUsers,
  sendText,
  type TestUser,
} from '../../test/support/factories.js';
import { as, client, refusal, type Client, type Reply } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs } from '../../test/support/ws.js';

let server: TestServer;
let api: Client;

beforeAll(async () => {
  server = await startTestServer({ SEND_RATE_PER_SECOND: '1000', SEND_BURST: '0' });
  api = client(server.url);
});
afterAll(() => server.close());

const users = (n: number) => registerUsers(api, n);

function send(user: TestUser, chatId: string, body: unknown) {
  return api.post(`/api/chats/${chatId}/messages`, body, as(user));
}

async function page(user: TestUser, chatId: string, qs = '') {
  const res = await api.get(`/api/chats/${chatId}/messages${qs ? `?${qs}` : ''}`, as(user));
  expect(res.status).toBe(200);
  return res.body as { messages: any[]; hasMoreBefore: boolean; hasMoreAfter: boolean };
}

async function messageIn(user: TestUser, chatId: string, messageId: string) {
  return (await page(user, chatId, 'limit=100')).messages.find((m) => m.id === messageId);
}

async function chatOf(user: TestUser, chatId: string) {
  const res = await api.get(`/api/chats/${chatId}`, as(user));
  expect(res.status).toBe(200);
  return res.body;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('sending', () => {
  it('answers 201 with the stored message, and 200 with the same message on a retry', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const clientMsgId = randomUUID();
    const first = await send(ana!, chat.id, { clientMsgId, body: 'Hello, Ben' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      chatId: chat.id,
      seq: 1,
      kind: 'text',
      senderId: ana!.id,
      sender: { id: ana!.id, username: ana!.username, displayName: ana!.displayName },
      clientMsgId,
      body: 'Hello, Ben',
      replyTo: null,
      system: null,
      reactions: [],
      editedAt: null,
      deletedAt: null,
      version: 1,
    });
    const retry = await send(ana!, chat.id, { clientMsgId, body: 'Hello, Ben' });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect((await page(ben!, chat.id)).messages.map((m) => m.id)).toEqual([first.body.id]);
    expect((await chatOf(ben!, chat.id)).lastSeq).toBe(1);

    // The id is unique per sender: Ben may use the same one.
    const bens = await send(ben!, chat.id, { clientMsgId, body: 'Hi' });
    expect(bens.status).toBe(201);
    expect(bens.body.seq).toBe(2);
  });

  it('refuses a clientMsgId the sender used in another chat with CLIENT_MSG_ID_REUSED', async () => {
    const [ana, ben, cy] = await users(3);
    const one = await openDirectChat(api, ana!, ben!);
    const two = await openDirectChat(api, ana!, cy!);
    const clientMsgId = randomUUID();
    expect((await send(ana!, one.id, { clientMsgId, body: 'first' })).status).toBe(201);
    const reused = await send(ana!, two.id, { clientMsgId, body: 'second' });
    expect(refusal(reused)).toEqual({ status: 409, code: 'CLIENT_MSG_ID_REUSED' });
    expect((await page(cy!, two.id)).messages).toEqual([]);
  });

  it('answers a retry from someone removed from the chat with 404, not the message', async () => {
    const [owner, leaver] = await users(2);
    const group = await createGroup(api, owner!, [leaver!]);
    const body = { clientMsgId: randomUUID(), body: 'before I was removed' };
    expect((await send(leaver!, group.id, body)).status).toBe(201);
    expect((await api.del(`/api/chats/${group.id}/members/${leaver!.id}`, as(owner!))).status).toBe(204);
    const retry = await send(leaver!, group.id, body);
    expect(refusal(retry)).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(retry.text).not.toContain('before I was removed');
  });

  it('stores one message when the same send is retried concurrently', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const body = { clientMsgId: randomUUID(), body: 'flaky network' };
    const replies = await Promise.all(Array.from({ length: 5 }, () => send(ana!, chat.id, body)));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
    expect((await page(ben!, chat.id)).messages).toHaveLength(1);
  });

  it('takes 10,000 characters and refuses 10,001, empty and whitespace-only text', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const longest = 'x'.repeat(9_999) + '!';
    const ok = await send(ana!, chat.id, { clientMsgId: randomUUID(), body: longest });
    expect(ok.status).toBe(201);
    expect((await messageIn(ben!, chat.id, ok.body.id)).body).toBe(longest);
    for (const body of ['y'.repeat(10_001), '', '   \n\t  ']) {
      const res = await send(ana!, chat.id, { clientMsgId: randomUUID(), body });
      expect({ length: body.length, ...refusal(res) }).toEqual({
        length: body.length,
        status: 400,
        code: 'VALIDATION_ERROR',
      });
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'body', location: 'body' })]);
    }
    const noId = await send(ana!, chat.id, { body: 'hi' });
    expect(refusal(noId)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(noId.body.error.details[0].path).toBe('clientMsgId');
    expect((await chatOf(ben!, chat.id)).lastSeq).toBe(1);
  });

  it('stores raw HTML as text, unchanged (rendering is the client’s job)', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const html = '<b>bold</b> <script>alert("x")</script> <img src=x onerror=alert(1)> &amp;';
    const sent = await send(ana!, chat.id, { clientMsgId: randomUUID(), body: html });
    expect(sent.status).toBe(201);
    expect(sent.body.body).toBe(html);
    expect((await messageIn(ben!, chat.id, sent.body.id)).body).toBe(html);
  });

  it('takes the sender from the token, not from the body', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const res = await send(ben!, chat.id, {
      clientMsgId: randomUUID(),
      body: 'who am I?',
      senderId: ana!.id,
      sender: { id: ana!.id },
      seq: 99,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ senderId: ben!.id, sender: { id: ben!.id }, seq: 1 });
    expect((await messageIn(ana!, chat.id, res.body.id)).senderId).toBe(ben!.id);
    expect((await chatOf(ana!, chat.id)).unreadCount).toBe(1);
  });

  it('quotes a message of the same chat, and refuses one from another chat', async () => {
    const [ana, ben, cy] = await users(3);
    const chat = await openDirectChat(api, ana!, ben!);
    const other = await openDirectChat(api, ana!, cy!);
    const quoted = await sendText(api, ben!, chat.id, 'What time is the meeting?');
    const elsewhere = await sendText(api, cy!, other.id, 'not in this chat');

    const reply = await send(ana!, chat.id, {
      clientMsgId: randomUUID(),
      body: 'At ten',
      replyTo: quoted.id,
    });
    expect(reply.status).toBe(201);
    expect(reply.body.replyTo).toEqual({
      id: quoted.id,
      seq: quoted.seq,
      senderId: ben!.id,
      senderName: ben!.displayName,
      bodyPreview: 'What time is the meeting?',
      deleted: false,
    });

    for (const replyTo of [elsewhere.id, randomUUID()]) {
      const res = await send(ana!, chat.id, { clientMsgId: randomUUID(), body: 'Re', replyTo });
      expect(refusal(res)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'replyTo' })]);
    }
    expect((await chatOf(ana!, chat.id)).lastSeq).toBe(2);

    // Once the quoted message is deleted, the quote shows that and no text.
    expect((await api.del(`/api/messages/${quoted.id}`, as(ben!))).status).toBe(204);
    expect((await messageIn(ana!, chat.id, reply.body.id)).replyTo).toMatchObject({
      id: quoted.id,
      bodyPreview: '',
      deleted: true,
    });
  });

  it('numbers 20 concurrent sends from two people 1..20 with no gap or duplicate', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send(i % 2 ? ben! : ana!, chat.id, { clientMsgId: randomUUID(), body: `m${i}` }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(replies.map((r) => r.body.seq).sort((a, b) => a - b)).toEqual(range(1, 20));
    const stored = (await page(ana!, chat.id)).messages;
    expect(stored.map((m) => m.seq)).toEqual(range(1, 20));
    expect(new Set(stored.map((m) => m.id)).size).toBe(20);
    for (const r of replies) {
      expect(stored.find((m) => m.id === r.body.id)).toMatchObject({ seq: r.body.seq, body: r.body.body });
    }
    expect((await chatOf(ben!, chat.id)).lastSeq).toBe(20);
  });
});

describe('listing pages', () => {
  let ana: TestUser;
  let ben: TestUser;
  let chatId: string;
  /** Message ids by seq. */
  const idAt: string[] = [];

  beforeAll(async () => {
    [ana, ben] = (await users(2)) as [TestUser, TestUser];
    chatId = (await openDirectChat(api, ana, ben)).id;
    for (let i = 1; i <= 120; i += 1) idAt[i] = (await sendText(api, i % 3 ? ana : ben, chatId, `n${i}`)).id;
  });

  const seqs = (p: { messages: { seq: number }[] }) => p.messages.map((m) => m.seq);

  it('gives the newest 50 by default, oldest first', async () => {
    const p = await page(ben, chatId);
    expect(seqs(p)).toEqual(range(71, 120));
    expect(p.messages.at(-1).body).toBe('n120');
    expect([p.hasMoreBefore, p.hasMoreAfter]).toEqual([true, false]);
  });

  it('pages backwards with before', async () => {
    const mid = await page(ben, chatId, 'before=51&limit=20');
    expect(seqs(mid)).toEqual(range(31, 50));
    expect([mid.hasMoreBefore, mid.hasMoreAfter]).toEqual([true, true]);
    const start = await page(ben, chatId, 'before=11&limit=20');
    expect(seqs(start)).toEqual(range(1, 10));
    expect([start.hasMoreBefore, start.hasMoreAfter]).toEqual([false, true]);
  });

  it('pages forwards with after', async () => {
    const first = await page(ben, chatId, 'after=0&limit=10');
    expect(seqs(first)).toEqual(range(1, 10));
    expect([first.hasMoreBefore, first.hasMoreAfter]).toEqual([false, true]);
    const end = await page(ben, chatId, 'after=100&limit=50');
    expect(seqs(end)).toEqual(range(101, 120));
    expect([end.hasMoreBefore, end.hasMoreAfter]).toEqual([true, false]);
    // Walking forward visits every message once.
    const walked: number[] = [];
    let after = 0;
    for (let i = 0; i < 10; i += 1) {
      const p = await page(ben, chatId, `after=${after}&limit=100`);
      walked.push(...seqs(p));
      if (!p.hasMoreAfter) break;
      after = p.messages.at(-1).seq;
    }
    expect(walked).toEqual(range(1, 120));
  });

  it('pages around a message for deep links', async () => {
    const middle = await page(ben, chatId, `around=${idAt[60]}&limit=11`);
    expect(seqs(middle)).toContain(60);
    expect(seqs(middle)).toHaveLength(11);
    expect(seqs(middle)).toEqual(range(seqs(middle)[0]!, seqs(middle)[0]! + 10));
    expect([middle.hasMoreBefore, middle.hasMoreAfter]).toEqual([true, true]);

    const nearStart = await page(ben, chatId, `around=${idAt[2]}&limit=10`);
    expect(seqs(nearStart)).toContain(2);
    expect(seqs(nearStart)[0]).toBe(1);
    expect(nearStart.hasMoreBefore).toBe(false);
    expect(nearStart.hasMoreAfter).toBe(true);

    const nearEnd = await page(ben, chatId, `around=${idAt[119]}&limit=10`);
    expect(seqs(nearEnd)).toContain(119);
    expect(seqs(nearEnd).at(-1)).toBe(120);
    expect(nearEnd.hasMoreBefore).toBe(true);
    expect(nearEnd.hasMoreAfter).toBe(false);

    // Exactly enough on one side: nothing more there.
    const fullStart = await page(ben, chatId, `around=${idAt[6]}&limit=11`);
    expect(seqs(fullStart)).toEqual(range(1, 11));
    expect([fullStart.hasMoreBefore, fullStart.hasMoreAfter]).toEqual([false, true]);
    const fullEnd = await page(ben, chatId, `around=${idAt[115]}&limit=11`);
    expect(seqs(fullEnd)).toEqual(range(110, 120));
    expect([fullEnd.hasMoreBefore, fullEnd.hasMoreAfter]).toEqual([true, false]);

    const single = await page(ben, chatId, `around=${idAt[120]}&limit=1`);
    expect(seqs(single)).toEqual([120]);
    expect([single.hasMoreBefore, single.hasMoreAfter]).toEqual([true, false]);
  });

  it('answers 404 around a message that is not in this chat', async () => {
    const [cy] = await users(1);
    const other = await openDirectChat(api, ana, cy!);
    const foreign = await sendText(api, cy!, other.id, 'elsewhere');
    for (const id of [foreign.id, randomUUID()]) {
      const res = await api.get(`/api/chats/${chatId}/messages?around=${id}`, as(ben));
      expect(refusal(res)).toEqual({ status: 404, code: 'NOT_FOUND' });
    }
  });

  it.each([
    ['limit=101', 'limit'],
    ['limit=0', 'limit'],
    ['before=5&after=3', 'before'],
    ['after=3&around=%ID%', 'before'],
    ['before=-1', 'before'],
    ['around=not-a-uuid', 'around'],
  ])('refuses %s with a 400', async (qs, field) => {
    const res = await api.get(`/api/chats/${chatId}/messages?${qs.replace('%ID%', idAt[5]!)}`, as(ben));
    expect(refusal(res)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: field, location: 'query' })]),
    );
  });
});

describe('editing', () => {
  it('edits your own message: new text, editedAt, version bumped, listed in /changes', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'teh typo');
    await sendText(api, ben!, chat.id, 'untouched');
    const before = (await chatOf(ben!, chat.id)).version;

    const res = await api.put(`/api/messages/${msg.id}`, { body: 'the typo' }, as(ana!));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: msg.id, seq: msg.seq, body: 'the typo', version: 2 });
    expect(Date.parse(res.body.editedAt)).not.toBeNaN();
    expect((await messageIn(ben!, chat.id, msg.id)).body).toBe('the typo');

    const after = (await chatOf(ben!, chat.id)).version;
    expect(after).toBeGreaterThan(before);
    const changes = await api.get(`/api/chats/${chat.id}/changes?sinceVersion=${before}`, as(ben!));
    expect(changes.status).toBe(200);
    expect(changes.body).toMatchObject({ version: after, hasMore: false });
    expect(changes.body.messages).toEqual([
      expect.objectContaining({ id: msg.id, body: 'the typo', version: 2 }),
    ]);
    const none = await api.get(`/api/chats/${chat.id}/changes?sinceVersion=${after}`, as(ben!));
    expect(none.body).toMatchObject({ messages: [], version: after, hasMore: false });
  });

  it('validates /changes, and a version from the future finds nothing rather than failing', async () => {
    const [ana, ben, stranger] = await users(3);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'x');
    await api.put(`/api/messages/${msg.id}`, { body: 'y' }, as(ana!));
    const future = await api.get(`/api/chats/${chat.id}/changes?sinceVersion=1000000`, as(ben!));
    expect(future.status).toBe(200);
    expect(future.body).toMatchObject({ messages: [], hasMore: false });
    for (const qs of [
      '',
      'sinceVersion=-1',
      'sinceVersion=abc',
      'sinceVersion=99999999999',
      'sinceVersion=0&limit=101',
    ]) {
      const res = await api.get(`/api/chats/${chat.id}/changes?${qs}`, as(ben!));
      expect({ qs, ...refusal(res) }).toEqual({ qs, status: 400, code: 'VALIDATION_ERROR' });
    }
    const notMine = await api.get(`/api/chats/${chat.id}/changes?sinceVersion=0`, as(stranger!));
    expect(refusal(notMine)).toEqual({ status: 404, code: 'NOT_FOUND' });
  });

  it("refuses to edit someone else's message (403), a deleted one (409) and a system line (403)", async () => {
    const [ana, ben, stranger] = await users(3);
    const group = await createGroup(api, ana!, [ben!]);
    const bens = await sendText(api, ben!, group.id, 'mine');
    const res = await api.put(`/api/messages/${bens.id}`, { body: 'yours now' }, as(ana!));
    expect(refusal(res)).toEqual({ status: 403, code: 'FORBIDDEN' });

    const systemLine = (await page(ana!, group.id)).messages[0];
    expect(systemLine.kind).toBe('system');
    const sys = await api.put(`/api/messages/${systemLine.id}`, { body: 'rewritten' }, as(ana!));
    expect(refusal(sys)).toEqual({ status: 403, code: 'FORBIDDEN' });

    const notSeen = await api.put(`/api/messages/${bens.id}`, { body: 'hi' }, as(stranger!));
    expect(refusal(notSeen)).toEqual({ status: 404, code: 'NOT_FOUND' });

    expect((await api.del(`/api/messages/${bens.id}`, as(ben!))).status).toBe(204);
    const deleted = await api.put(`/api/messages/${bens.id}`, { body: 'resurrect' }, as(ben!));
    expect(refusal(deleted)).toEqual({ status: 409, code: 'MESSAGE_DELETED' });
    expect((await messageIn(ana!, group.id, bens.id)).body).toBe('');

    const empty = await api.put(`/api/messages/${systemLine.id}`, { body: '  ' }, as(ana!));
    expect(refusal(empty)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
  });
});

describe('deleting', () => {
  it('for everyone by the sender leaves a tombstone with no text or reactions', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'regrettable');
    await api.post(`/api/messages/${msg.id}/reactions`, { emoji: '😮' }, as(ben!));
    const before = (await chatOf(ben!, chat.id)).version;

    expect((await api.del(`/api/messages/${msg.id}?scope=everyone`, as(ana!))).status).toBe(204);
    const tomb = await messageIn(ben!, chat.id, msg.id);
    expect(tomb).toMatchObject({ id: msg.id, seq: msg.seq, body: '', reactions: [], senderId: ana!.id });
    expect(Date.parse(tomb.deletedAt)).not.toBeNaN();
    expect(JSON.stringify(await page(ben!, chat.id))).not.toContain('regrettable');
    const changes = await api.get(`/api/chats/${chat.id}/changes?sinceVersion=${before}`, as(ben!));
    expect(changes.body.messages).toEqual([
      expect.objectContaining({ id: msg.id, body: '', deletedAt: tomb.deletedAt }),
    ]);
    expect((await chatOf(ben!, chat.id)).lastMessage).toMatchObject({ id: msg.id, text: '', deleted: true });

    const react = await api.post(`/api/messages/${msg.id}/reactions`, { emoji: '👍' }, as(ben!));
    expect(refusal(react)).toEqual({ status: 409, code: 'MESSAGE_DELETED' });
  });

  it("lets a group admin delete someone else's message, not a plain member", async () => {
    const [owner, admin, member, other] = await users(4);
    const group = await createGroup(api, owner!, [admin!, member!, other!]);
    await api.put(`/api/chats/${group.id}/members/${admin!.id}`, { role: 'admin' }, as(owner!));
    const target = await sendText(api, other!, group.id, 'spam');
    const another = await sendText(api, other!, group.id, 'more spam');

    const byMember = await api.del(`/api/messages/${target.id}`, as(member!));
    expect(refusal(byMember)).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect((await messageIn(owner!, group.id, target.id)).body).toBe('spam');

    expect((await api.del(`/api/messages/${target.id}`, as(admin!))).status).toBe(204);
    expect(await messageIn(member!, group.id, target.id)).toMatchObject({ body: '' });
    expect((await api.del(`/api/messages/${another.id}`, as(owner!))).status).toBe(204);
    expect(await messageIn(member!, group.id, another.id)).toMatchObject({ body: '' });
  });

  it('refuses the other person of a direct chat deleting your message for everyone', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'mine');
    const res = await api.del(`/api/messages/${msg.id}`, as(ben!));
    expect(refusal(res)).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect((await messageIn(ana!, chat.id, msg.id)).body).toBe('mine');
  });

  it('for me hides the message only for the caller', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const hidden = await sendText(api, ben!, chat.id, 'hide me');
    const kept = await sendText(api, ben!, chat.id, 'keep me');
    const anaWs = await connectAs(server.url, ana!.accessToken);
    const benWs = await connectAs(server.url, ben!.accessToken);
    try {
      expect((await api.del(`/api/messages/${hidden.id}?scope=me`, as(ana!))).status).toBe(204);
      expect((await page(ana!, chat.id)).messages.map((m) => m.id)).toEqual([kept.id]);
      expect((await page(ben!, chat.id)).messages.map((m) => m.body)).toEqual(['hide me', 'keep me']);
      expect((await chatOf(ana!, chat.id)).unreadCount).toBe(1);
      await anaWs.waitFor((f) => f.type === 'message:deleted' && f.data.messageId === hidden.id);

      // Ben hears nothing of it: his next event is the sentinel.
      const sentinel = await sendText(api, ana!, chat.id, 'sentinel');
      await benWs.waitFor((f) => f.type === 'message:new' && f.data.message.id === sentinel.id);
      expect(benWs.events.filter((f) => f.type === 'message:deleted')).toEqual([]);
    } finally {
      await Promise.all([anaWs.close(), benWs.close()]);
    }
  });

  it('refuses an unknown scope', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'x');
    const res = await api.del(`/api/messages/${msg.id}?scope=everybody`, as(ana!));
    expect(refusal(res)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect((await messageIn(ben!, chat.id, msg.id)).body).toBe('x');
  });
});

describe('reactions', () => {
  it('adds one reaction per emoji per user, idempotently, and removes it', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'react to me');
    const react = (user: TestUser, emoji: string) => {
      server.clock.advance(5); // "oldest first" needs distinct reaction times
      return api.post(`/api/messages/${msg.id}/reactions`, { emoji }, as(user));
    };
    const unreact = (user: TestUser, emoji: string) =>
      api.del(`/api/messages/${msg.id}/reactions/${encodeURIComponent(emoji)}`, as(user));

    const first = await react(ana!, '👍');
    expect(first.status).toBe(200);
    expect(first.body.reactions).toEqual([{ emoji: '👍', userIds: [ana!.id] }]);
    const versionAfterFirst = (await messageIn(ben!, chat.id, msg.id)).version;
    expect((await react(ana!, '👍')).body.reactions).toEqual([{ emoji: '👍', userIds: [ana!.id] }]);
    expect((await messageIn(ben!, chat.id, msg.id)).version).toBe(versionAfterFirst);

    await react(ben!, '👍');
    const hearts = await react(ben!, '❤️');
    expect(hearts.body.reactions).toEqual([
      { emoji: '👍', userIds: [ana!.id, ben!.id] },
      { emoji: '❤️', userIds: [ben!.id] },
    ]);
    expect((await react(ana!, '👍🏽')).status).toBe(200);
    expect((await react(ana!, '🇩🇪')).status).toBe(200);
    expect((await messageIn(ben!, chat.id, msg.id)).reactions).toHaveLength(4);

    const removed = await unreact(ana!, '👍');
    expect(removed.status).toBe(200);
    expect(removed.body.reactions).toEqual([
      { emoji: '👍', userIds: [ben!.id] },
      { emoji: '❤️', userIds: [ben!.id] },
      { emoji: '👍🏽', userIds: [ana!.id] },
      { emoji: '🇩🇪', userIds: [ana!.id] },
    ]);
    expect((await unreact(ana!, '👍')).body.reactions).toEqual(removed.body.reactions);
    expect((await messageIn(ana!, chat.id, msg.id)).reactions).toEqual(removed.body.reactions);
  });

  it.each(['a', '<b>', '👍 x', ''])('refuses %j as an emoji', async (emoji) => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'x');
    const res = await api.post(`/api/messages/${msg.id}/reactions`, { emoji }, as(ben!));
    expect(refusal(res)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(res.body.error.details[0]).toMatchObject({ path: 'emoji', location: 'body' });
    expect((await messageIn(ana!, chat.id, msg.id)).reactions).toEqual([]);
  });

  it('loses no reaction and no version step when many arrive at once, and gives each change its own version', async () => {
    const members = await users(6);
    const [owner, ...others] = members as [TestUser, ...TestUser[]];
    const group = await createGroup(api, owner, others);
    const msg = await sendText(api, owner, group.id, 'react to me, all at once');
    const before = (await messageIn(owner, group.id, msg.id)).version;
    const watcher = await connectAs(server.url, owner.accessToken);
    const emojis = ['👍', '🎉', '❤️'];
    // Every member adds three emojis, each twice (the second is a no-op), all at once.
    const adds = members.flatMap((u) =>
      [...emojis, ...emojis].map((emoji) => api.post(`/api/messages/${msg.id}/reactions`, { emoji }, as(u))),
    );
    expect((await Promise.all(adds)).map((r) => r.status)).toEqual(adds.map(() => 200));
    // Then each removes one of them, also at once.
    const removes = members.map((u) =>
      api.del(`/api/messages/${msg.id}/reactions/${encodeURIComponent('🎉')}`, as(u)),
    );
    expect((await Promise.all(removes)).map((r) => r.status)).toEqual(removes.map(() => 200));
    const changes = members.length * emojis.length + members.length;
    const stored = await messageIn(owner, group.id, msg.id);
    expect(stored.version).toBe(before + changes);
    // All at the same app-clock moment: the two emojis may come in either order.
    expect(stored.reactions).toHaveLength(2);
    expect(stored.reactions).toEqual(
      expect.arrayContaining(
        ['👍', '❤️'].map((emoji) => ({ emoji, userIds: expect.arrayContaining(members.map((u) => u.id)) })),
      ),
    );
    const events = await watcher.waitForCount(
      (f) => (f.type === 'reaction:added' || f.type === 'reaction:removed') && f.data.messageId === msg.id,
      changes,
    );
    expect(new Set(events.map((f) => f.data.version)).size).toBe(changes);
    expect(Math.max(...events.map((f) => f.data.version))).toBe(stored.version);
    await watcher.close();
  });

  it('answers 404 to a non-member reacting', async () => {
    const [ana, ben, stranger] = await users(3);
    const chat = await openDirectChat(api, ana!, ben!);
    const msg = await sendText(api, ana!, chat.id, 'x');
    const res = await api.post(`/api/messages/${msg.id}/reactions`, { emoji: '👍' }, as(stranger!));
    expect(refusal(res)).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect((await messageIn(ana!, chat.id, msg.id)).reactions).toEqual([]);
  });
});

describe('read position', () => {
  it('moves forward only, is clamped to the last message, and returns the unread count', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    for (let i = 1; i <= 5; i += 1) await sendText(api, ben!, chat.id, `m${i}`);
    const read = (upToSeq: number) => api.post(`/api/chats/${chat.id}/read`, { upToSeq }, as(ana!));

    expect((await read(3)).body).toEqual({ chatId: chat.id, lastReadSeq: 3, unreadCount: 2 });
    expect((await read(1)).body).toEqual({ chatId: chat.id, lastReadSeq: 3, unreadCount: 2 });
    expect(await chatOf(ana!, chat.id)).toMatchObject({ lastReadSeq: 3, unreadCount: 2 });
    expect((await read(1_000_000)).body).toEqual({ chatId: chat.id, lastReadSeq: 5, unreadCount: 0 });
    await sendText(api, ben!, chat.id, 'm6');
    expect(await chatOf(ana!, chat.id)).toMatchObject({ lastReadSeq: 5, unreadCount: 1 });

    const members = (await api.get(`/api/chats/${chat.id}/members`, as(ben!))).body.members;
    expect(members.find((m: any) => m.user.id === ana!.id).lastReadSeq).toBe(5);

    for (const upToSeq of [-1, 1.5, '3']) {
      const res = await api.post(`/api/chats/${chat.id}/read`, { upToSeq }, as(ana!));
      expect({ upToSeq, ...refusal(res) }).toEqual({ upToSeq, status: 400, code: 'VALIDATION_ERROR' });
    }
  });
});

describe('rate limit', () => {
  let limited: TestServer;
  let lapi: Client;
  beforeAll(async () => {
    limited = await startTestServer({ SEND_RATE_PER_SECOND: '2', SEND_BURST: '3' });
    lapi = client(limited.url);
  });
  afterAll(() => limited.close());

  it('answers a burst with 429 RATE_LIMITED and retryAfterMs; a retry after that long succeeds', async () => {
    const ana = await registerUser(lapi);
    const ben = await registerUser(lapi);
    const chat = await openDirectChat(lapi, ana, ben);
    const sent: Reply[] = [];
    let refused: Reply | undefined;
    let refusedBody: object | undefined;
    // Rounds of sends that leave together: each round overruns 2 a second however long the
    // machine takes over a single request (one at a time, a slow machine never would).
    for (let round = 0; round < 10 && !refused; round += 1) {
      const bodies = Array.from({ length: 8 }, (_, i) => ({
        clientMsgId: randomUUID(),
        body: `burst ${round}.${i}`,
      }));
      const replies = await Promise.all(
        bodies.map((body) => lapi.post(`/api/chats/${chat.id}/messages`, body, as(ana))),
      );
      for (const [i, res] of replies.entries()) {
        if (res.status === 429) {
          refused ??= res;
          refusedBody ??= bodies[i];
        } else {
          expect(res.status).toBe(201);
          sent.push(res);
        }
      }
    }
    // 2 a second plus a burst of 3: at least 5 pass before the first refusal.
    expect(sent.length).toBeGreaterThanOrEqual(5);
    expect(refused).toBeDefined();
    expect(refusal(refused!)).toEqual({ status: 429, code: 'RATE_LIMITED' });
    const retryAfterMs = refused!.body.error.details.retryAfterMs;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(1000);
    expect(refused!.headers.get('retry-after')).toBe(String(Math.ceil(retryAfterMs / 1000)));

    // A retry of a message that did go through is answered from the store, not limited.
    const again = await lapi.post(
      `/api/chats/${chat.id}/messages`,
      { clientMsgId: sent[0]!.body.clientMsgId, body: sent[0]!.body.body },
      as(ana),
    );
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(sent[0]!.body.id);

    // Ben has his own allowance.
    expect((await sendText(lapi, ben, chat.id, 'me too')).seq).toBe(sent.length + 1);

    await sleep(retryAfterMs + 50);
    const retry = await lapi.post(`/api/chats/${chat.id}/messages`, refusedBody, as(ana));
    expect(retry.status).toBe(201);
    expect(retry.body.seq).toBe(sent.length + 2);
  });
});

describe('mentions and priority', () => {
  it('stores @username mentions of members only, and follows edits and deletes', async () => {
    const [ana, ben, cy, stranger] = await users(4);
    const group = await createGroup(api, ana!, [ben!, cy!]);
    const text = `hey @${ben!.username}, and @${stranger!.username} and @nobody_here. also @${cy!.username}.`;
    const sent = await send(ana!, group.id, { clientMsgId: randomUUID(), body: text });
    expect(sent.status).toBe(201);
    expect(new Set(sent.body.mentions)).toEqual(new Set([ben!.id, cy!.id]));
    expect(sent.body.priority).toBe('normal');
    const edited = await api.put(
      `/api/messages/${sent.body.id}`,
      { body: `only @${cy!.username}` },
      as(ana!),
    );
    expect(edited.body.mentions).toEqual([cy!.id]);
    expect((await messageIn(ben!, group.id, sent.body.id)).mentions).toEqual([cy!.id]);
    await api.del(`/api/messages/${sent.body.id}?scope=everyone`, as(ana!));
    expect((await messageIn(ben!, group.id, sent.body.id)).mentions).toEqual([]);
    // An e-mail address is not a mention.
    const mail = await send(ana!, group.id, {
      clientMsgId: randomUUID(),
      body: `write to x@${ben!.username}.test`,
    });
    expect(mail.body.mentions).toEqual([]);
  });

  it('keeps high and urgent priority; anything else is refused', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    for (const priority of ['high', 'urgent'] as const) {
      const res = await send(ana!, chat.id, { clientMsgId: randomUUID(), body: priority, priority });
      expect(res.body.priority).toBe(priority);
      expect((await messageIn(ben!, chat.id, res.body.id)).priority).toBe(priority);
    }
    const bad = await send(ana!, chat.id, { clientMsgId: randomUUID(), body: 'x', priority: 'critical' });
    expect(refusal(bad)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
  });
});
