import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import {
  createGroup,
  openDirectChat,
  registerUser,
  registerUsers,
  sendText,
  uniqueName,
  type TestUser,
} from '../../test/support/factories.js';
import { as, client, refusal, type Client, type Reply } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame } from '../../test/support/ws.js';

let server: TestServer;
let api: Client;

beforeAll(async () => {
  server = await startTestServer({ SEND_RATE_PER_SECOND: '1000', SEND_BURST: '0' });
  api = client(server.url);
});
afterAll(() => server.close());

const users = (n: number) => registerUsers(api, n);

async function chatIdsOf(user: TestUser): Promise<string[]> {
  const res = await api.get('/api/chats?limit=100', as(user));
  expect(res.status).toBe(200);
  return res.body.chats.map((c: { id: string }) => c.id);
}

async function chatOf(user: TestUser, chatId: string) {
  const res = await api.get(`/api/chats/${chatId}`, as(user));
  expect(res.status).toBe(200);
  return res.body;
}

async function messagesOf(user: TestUser, chatId: string) {
  const res = await api.get(`/api/chats/${chatId}/messages?limit=100`, as(user));
  expect(res.status).toBe(200);
  return res.body.messages as any[];
}

async function membersOf(user: TestUser, chatId: string) {
  const res = await api.get(`/api/chats/${chatId}/members`, as(user));
  expect(res.status).toBe(200);
  return res.body.members as any[];
}

const roleOf = (members: any[], user: TestUser) => members.find((m) => m.user.id === user.id)?.role;

async function lastMessageOf(user: TestUser, chatId: string) {
  return (await messagesOf(user, chatId)).at(-1);
}

/** Registers `count` users in parallel batches (argon2 is the slow part). */
async function manyUsers(count: number): Promise<TestUser[]> {
  const out: TestUser[] = [];
  while (out.length < count) {
    const batch = Math.min(25, count - out.length);
    out.push(
      ...(await Promise.all(
        Array.from({ length: batch }, () =>
          registerUser(api, { username: uniqueName('m'), displayName: 'Member' }),
        ),
      )),
    );
  }
  return out;
}

/**
 * Checks that a chat event did not reach `ws`: an event to the same user that was caused
 * later (the sentinel) has arrived, and nothing matching came before it.
 */
async function expectNoEventBefore(
  ws: Awaited<ReturnType<typeof connectAs>>,
  sentinel: (f: Frame) => boolean,
  unwanted: (f: Frame) => boolean,
) {
  await ws.waitFor(sentinel);
  expect(ws.events.filter(unwanted)).toEqual([]);
}

describe('direct chats', () => {
  it('is created once per pair: 201, then 200 with the same id from either side', async () => {
    const [ana, ben] = await users(2);
    const first = await api.post('/api/chats/direct', { userId: ben!.id }, as(ana!));
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      kind: 'direct',
      name: ben!.displayName,
      myRole: 'member',
      memberCount: 2,
      lastSeq: 0,
      lastMessage: null,
      unreadCount: 0,
      peer: { id: ben!.id, username: ben!.username },
    });
    const again = await api.post('/api/chats/direct', { userId: ben!.id }, as(ana!));
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const fromBen = await api.post('/api/chats/direct', { userId: ana!.id }, as(ben!));
    expect(fromBen.status).toBe(200);
    expect(fromBen.body).toMatchObject({ id: first.body.id, name: ana!.displayName, peer: { id: ana!.id } });
  });

  it('yields one chat when both people open it at the same moment', async () => {
    const pairs = await Promise.all(Array.from({ length: 4 }, () => users(2)));
    for (const [a, b] of pairs) {
      const [one, two] = await Promise.all([
        api.post('/api/chats/direct', { userId: b!.id }, as(a!)),
        api.post('/api/chats/direct', { userId: a!.id }, as(b!)),
      ]);
      expect([one.status, two.status].sort()).toEqual([200, 201]);
      expect(one.body.id).toBe(two.body.id);
      expect(await chatIdsOf(a!)).toEqual([one.body.id]);
      expect(await chatIdsOf(b!)).toEqual([one.body.id]);
    }
  });

  it('refuses a chat with yourself (400) and with an unknown user (404)', async () => {
    const [ana] = await users(1);
    const self = await api.post('/api/chats/direct', { userId: ana!.id }, as(ana!));
    expect(refusal(self)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(self.body.error.details).toEqual([expect.objectContaining({ path: 'userId', location: 'body' })]);
    const unknown = await api.post('/api/chats/direct', { userId: randomUUID() }, as(ana!));
    expect(refusal(unknown)).toEqual({ status: 404, code: 'NOT_FOUND' });
    const malformed = await api.post('/api/chats/direct', { userId: 'not-a-uuid' }, as(ana!));
    expect(refusal(malformed)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(await chatIdsOf(ana!)).toEqual([]);
  });

  it('needs authentication', async () => {
    const res = await api.post('/api/chats/direct', { userId: randomUUID() });
    expect(refusal(res)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });
});

describe('creating groups', () => {
  it('makes the caller owner, adds the members and posts "group_created" as seq 1', async () => {
    const [owner, ben, cy] = await users(3);
    const res = await api.post(
      '/api/chats/group',
      { name: '  Team  ', description: 'Our team', memberIds: [ben!.id, cy!.id, ben!.id] },
      as(owner!),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      kind: 'group',
      name: 'Team',
      description: 'Our team',
      myRole: 'owner',
      memberCount: 3,
      lastSeq: 1,
      lastReadSeq: 1,
      unreadCount: 0,
      peer: null,
      lastMessage: { seq: 1, kind: 'system', senderId: null },
    });
    const chatId = res.body.id;
    const members = await membersOf(ben!, chatId);
    expect(members.map((m) => [m.user.id, m.role]).sort()).toEqual(
      [
        [owner!.id, 'owner'],
        [ben!.id, 'member'],
        [cy!.id, 'member'],
      ].sort(),
    );
    const benView = await chatOf(ben!, chatId);
    expect(benView).toMatchObject({ myRole: 'member', unreadCount: 0, lastSeq: 1 });
    const [line, ...rest] = await messagesOf(cy!, chatId);
    expect(rest).toEqual([]);
    expect(line).toMatchObject({
      seq: 1,
      kind: 'system',
      senderId: null,
      body: '',
      system: { action: 'group_created', actorId: owner!.id, value: 'Team' },
    });
    expect([...line.system.userIds].sort()).toEqual([ben!.id, cy!.id].sort());
  });

  it('refuses an unknown member with a 400 naming its index, and creates nothing', async () => {
    const [owner, ben] = await users(2);
    const res = await api.post(
      '/api/chats/group',
      { name: 'Ghosts', memberIds: [ben!.id, randomUUID()] },
      as(owner!),
    );
    expect(refusal(res)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(res.body.error.details).toEqual([
      expect.objectContaining({ path: 'memberIds.1', location: 'body' }),
    ]);
    expect(await chatIdsOf(owner!)).toEqual([]);
    expect(await chatIdsOf(ben!)).toEqual([]);
  });

  it.each([
    [{ name: '   ' }, 'name'],
    [{ name: 'n'.repeat(101) }, 'name'],
    [{ name: 'ok', avatarUrl: 'javascript:alert(1)' }, 'avatarUrl'],
    [{ name: 'ok', memberIds: ['nope'] }, 'memberIds.0'],
  ])('rejects %j with a 400 naming %s', async (body, field) => {
    const [owner] = await users(1);
    const res = await api.post('/api/chats/group', body, as(owner!));
    expect(refusal(res)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
  });

  describe('at the 300-member limit', () => {
    let owner: TestUser;
    let pool: TestUser[];
    beforeAll(async () => {
      owner = await registerUser(api);
      pool = await manyUsers(300);
    }, 240_000);

    it('creates a group of 300 with the owner, refuses 301 with GROUP_FULL, and adding past 300', async () => {
      const full = await api.post(
        '/api/chats/group',
        { name: 'Full house', memberIds: pool.slice(0, 299).map((u) => u.id) },
        as(owner),
      );
      expect(full.status).toBe(201);
      expect(full.body.memberCount).toBe(300);
      expect(await membersOf(pool[0]!, full.body.id)).toHaveLength(300);

      const over = await api.post(
        '/api/chats/group',
        { name: 'One too many', memberIds: pool.map((u) => u.id) },
        as(owner),
      );
      expect(refusal(over)).toEqual({ status: 409, code: 'GROUP_FULL' });

      const add = await api.post(
        `/api/chats/${full.body.id}/members`,
        { userIds: [pool[299]!.id] },
        as(owner),
      );
      expect(refusal(add)).toEqual({ status: 409, code: 'GROUP_FULL' });
      expect((await chatOf(owner, full.body.id)).memberCount).toBe(300);
      const outsider = await api.get(`/api/chats/${full.body.id}`, as(pool[299]!));
      expect(refusal(outsider)).toEqual({ status: 404, code: 'NOT_FOUND' });
    });
  });
});

describe('the chat list', () => {
  it('orders chats by last activity; a new message moves a chat to the top', async () => {
    const [me, ben, cy] = await users(3);
    const withBen = await openDirectChat(api, me!, ben!);
    server.clock.advance(1000);
    const withCy = await openDirectChat(api, me!, cy!);
    server.clock.advance(1000);
    const group = await createGroup(api, me!, [ben!, cy!]);
    expect(await chatIdsOf(me!)).toEqual([group.id, withCy.id, withBen.id]);

    server.clock.advance(1000);
    await sendText(api, ben!, withBen.id, 'hello again');
    expect(await chatIdsOf(me!)).toEqual([withBen.id, group.id, withCy.id]);
    const list = await api.get('/api/chats', as(me!));
    expect(list.body.chats[0]).toMatchObject({
      id: withBen.id,
      lastSeq: 1,
      lastMessage: {
        seq: 1,
        kind: 'text',
        senderId: ben!.id,
        senderName: ben!.displayName,
        text: 'hello again',
      },
    });
    expect(list.body.nextCursor).toBeNull();
  });

  it('pages with limit and cursor without duplicates or gaps, even with equal times', async () => {
    const [me, ben] = await users(2);
    // Created at once, several chats likely share a last-activity time: the id breaks ties.
    await Promise.all(Array.from({ length: 7 }, () => createGroup(api, me!, [ben!])));
    const all = await chatIdsOf(me!);
    expect(all).toHaveLength(7);

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Reply = await api.get(
        `/api/chats?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        as(me!),
      );
      expect(page.status).toBe(200);
      sizes.push(page.body.chats.length);
      seen.push(...page.body.chats.map((c: { id: string }) => c.id));
      cursor = page.body.nextCursor;
    } while (cursor && sizes.length < 10);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(all);
  });

  it('validates limit and cursor', async () => {
    const [me] = await users(1);
    // Cursors are opaque, but a crafted one must be refused, not reach the SQL.
    const crafted = [
      '2020|00000000-0000-0000-0000-000000000000',
      '2020-01-01T00:00:00.000Z|------------------------------------',
      'Tue Mar 01 2022|00000000-0000-0000-0000-000000000000',
    ].map((raw) => `cursor=${Buffer.from(raw).toString('base64url')}`);
    for (const qs of ['limit=0', 'limit=101', 'limit=abc', 'cursor=garbage', ...crafted]) {
      const res = await api.get(`/api/chats?${qs}`, as(me!));
      expect({ qs, ...refusal(res) }).toEqual({ qs, status: 400, code: 'VALIDATION_ERROR' });
    }
  });

  it('previews the newest message the member can see, not one they deleted for themselves', async () => {
    const [ana, ben] = await users(2);
    const direct = await openDirectChat(api, ana!, ben!);
    const visible = await sendText(api, ben!, direct.id, 'still here');
    const hidden = await sendText(api, ben!, direct.id, 'gone for Ana');
    expect((await api.del(`/api/messages/${hidden.id}?scope=me`, as(ana!))).status).toBe(204);

    const listed = (await api.get('/api/chats', as(ana!))).body.chats[0];
    expect(listed).toMatchObject({ id: direct.id, unreadCount: 1 });
    expect(listed.lastMessage).toMatchObject({ id: visible.id, text: 'still here' });
    expect(JSON.stringify(await chatOf(ana!, direct.id))).not.toContain('gone for Ana');
    expect((await chatOf(ben!, direct.id)).lastMessage).toMatchObject({
      id: hidden.id,
      text: 'gone for Ana',
    });

    const alsoHidden = await api.del(`/api/messages/${visible.id}?scope=me`, as(ana!));
    expect(alsoHidden.status).toBe(204);
    expect((await chatOf(ana!, direct.id)).lastMessage).toBeNull();
  });

  it("counts others' unread messages only, follows POST /read and leaves deleted ones out", async () => {
    const [ana, ben, cy] = await users(3);
    const group = await createGroup(api, ana!, [ben!, cy!]);
    await sendText(api, ben!, group.id, 'b1'); // seq 2
    await sendText(api, ben!, group.id, 'b2'); // seq 3
    const c1 = await sendText(api, cy!, group.id, 'c1'); // seq 4

    const unread = async (user: TestUser) => (await chatOf(user, group.id)).unreadCount;
    expect(await unread(ana!)).toBe(3);
    expect(await unread(ben!)).toBe(1); // only Cy's; sending read Ben up to his own
    expect(await unread(cy!)).toBe(0);

    const read = await api.post(`/api/chats/${group.id}/read`, { upToSeq: 3 }, as(ana!));
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ chatId: group.id, lastReadSeq: 3, unreadCount: 1 });
    const listed = (await api.get('/api/chats', as(ana!))).body.chats.find(
      (c: { id: string }) => c.id === group.id,
    );
    expect(listed).toMatchObject({ lastReadSeq: 3, unreadCount: 1 });

    await sendText(api, cy!, group.id, 'c2'); // seq 5
    expect(await unread(ana!)).toBe(2);
    expect((await api.del(`/api/messages/${c1.id}`, as(cy!))).status).toBe(204);
    expect(await unread(ana!)).toBe(1);
    expect(await unread(ben!)).toBe(1);

    await sendText(api, ana!, group.id, 'a1'); // seq 6: Ana has now read everything
    expect(await unread(ana!)).toBe(0);
    expect(await unread(ben!)).toBe(2);
  });
});

describe('one chat: get, rename, delete', () => {
  it('lets admins and the owner rename a group (with a "renamed" line), not members', async () => {
    const [owner, admin, member] = await users(3);
    const group = await createGroup(api, owner!, [admin!, member!], 'Before');
    expect(
      (await api.put(`/api/chats/${group.id}/members/${admin!.id}`, { role: 'admin' }, as(owner!))).status,
    ).toBe(200);

    const byMember = await api.put(`/api/chats/${group.id}`, { name: 'Hijacked' }, as(member!));
    expect(refusal(byMember)).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect((await chatOf(owner!, group.id)).name).toBe('Before');

    const byAdmin = await api.put(`/api/chats/${group.id}`, { name: 'After' }, as(admin!));
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body).toMatchObject({ id: group.id, name: 'After', myRole: 'admin' });
    const line = await lastMessageOf(member!, group.id);
    expect(line).toMatchObject({
      kind: 'system',
      seq: byAdmin.body.lastSeq,
      system: { action: 'renamed', actorId: admin!.id, value: 'After' },
    });
    expect((await chatOf(member!, group.id)).name).toBe('After');

    // A description alone is no rename: no new line.
    const described = await api.put(`/api/chats/${group.id}`, { description: 'About us' }, as(owner!));
    expect(described.status).toBe(200);
    expect(described.body).toMatchObject({ description: 'About us', lastSeq: byAdmin.body.lastSeq });

    const invalid = await api.put(`/api/chats/${group.id}`, { name: '' }, as(owner!));
    expect(refusal(invalid)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
  });

  it('refuses to rename a direct chat with NOT_A_GROUP', async () => {
    const [ana, ben] = await users(2);
    const direct = await openDirectChat(api, ana!, ben!);
    const res = await api.put(`/api/chats/${direct.id}`, { name: 'Us' }, as(ana!));
    expect(refusal(res)).toEqual({ status: 400, code: 'NOT_A_GROUP' });
    expect((await chatOf(ana!, direct.id)).name).toBe(ben!.displayName);
  });

  it('lets only the owner delete a group; afterwards its members get 404', async () => {
    const [owner, admin, member] = await users(3);
    const group = await createGroup(api, owner!, [admin!, member!]);
    await api.put(`/api/chats/${group.id}/members/${admin!.id}`, { role: 'admin' }, as(owner!));
    await sendText(api, member!, group.id, 'hi');

    for (const who of [admin!, member!]) {
      const res = await api.del(`/api/chats/${group.id}`, as(who));
      expect(refusal(res)).toEqual({ status: 403, code: 'FORBIDDEN' });
    }
    expect((await chatOf(member!, group.id)).id).toBe(group.id);

    expect((await api.del(`/api/chats/${group.id}`, as(owner!))).status).toBe(204);
    for (const who of [owner!, admin!, member!]) {
      expect(refusal(await api.get(`/api/chats/${group.id}`, as(who)))).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
      expect(refusal(await api.get(`/api/chats/${group.id}/messages`, as(who)))).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
      expect(await chatIdsOf(who)).not.toContain(group.id);
    }
  });

  it('deleting a direct chat hides and clears it for the caller only; a new message brings it back', async () => {
    const [ana, ben] = await users(2);
    const direct = await openDirectChat(api, ana!, ben!);
    await sendText(api, ana!, direct.id, 'one');
    await sendText(api, ben!, direct.id, 'two');
    const benWs = await connectAs(server.url, ben!.accessToken);
    try {
      expect((await api.del(`/api/chats/${direct.id}`, as(ana!))).status).toBe(204);
      expect(await chatIdsOf(ana!)).not.toContain(direct.id);
      expect(await chatIdsOf(ben!)).toContain(direct.id);
      expect(await messagesOf(ana!, direct.id)).toEqual([]);
      expect((await messagesOf(ben!, direct.id)).map((m) => m.body)).toEqual(['one', 'two']);
      expect(await chatOf(ana!, direct.id)).toMatchObject({ lastMessage: null, unreadCount: 0 });

      const back = await sendText(api, ben!, direct.id, 'three');
      expect(await chatIdsOf(ana!)).toContain(direct.id);
      expect(await chatOf(ana!, direct.id)).toMatchObject({ unreadCount: 1, lastMessage: { id: back.id } });
      const page = await api.get(`/api/chats/${direct.id}/messages`, as(ana!));
      expect(page.body.messages.map((m: { body: string }) => m.body)).toEqual(['three']);
      expect(page.body.hasMoreBefore).toBe(false);

      // Opening it again also brings it back, still cleared.
      expect((await api.del(`/api/chats/${direct.id}`, as(ana!))).status).toBe(204);
      expect(await chatIdsOf(ana!)).not.toContain(direct.id);
      const reopened = await api.post('/api/chats/direct', { userId: ben!.id }, as(ana!));
      expect(reopened.status).toBe(200);
      expect(reopened.body).toMatchObject({ id: direct.id, lastMessage: null, unreadCount: 0 });
      expect(await chatIdsOf(ana!)).toContain(direct.id);
      expect(await messagesOf(ana!, direct.id)).toEqual([]);
      // Ben was never told the chat was deleted.
      await expectNoEventBefore(
        benWs,
        (f) => f.type === 'message:new' && f.data.message.id === back.id,
        (f) => f.type === 'chat:deleted',
      );
    } finally {
      await benWs.close();
    }
  });
});

describe('members', () => {
  it('lists members with role, read positions and presence', async () => {
    const [owner, ben, cy] = await users(3);
    const group = await createGroup(api, owner!, [ben!]);
    server.clock.advance(1000);
    await api.post(`/api/chats/${group.id}/members`, { userIds: [cy!.id] }, as(owner!)); // seq 2
    await sendText(api, ben!, group.id, 'hi'); // seq 3
    const cyWs = await connectAs(server.url, cy!.accessToken);
    try {
      const members = await membersOf(owner!, group.id);
      expect(members.map((m) => m.user.id).slice(-1)).toEqual([cy!.id]); // joined last
      const byId = Object.fromEntries(members.map((m) => [m.user.id, m]));
      expect(byId[owner!.id]).toMatchObject({ role: 'owner', lastReadSeq: 1, online: false });
      expect(byId[ben!.id]).toMatchObject({
        role: 'member',
        lastReadSeq: 3,
        lastDeliveredSeq: 3,
        online: false,
      });
      expect(byId[cy!.id]).toMatchObject({ role: 'member', lastReadSeq: 2, online: true });
      expect(JSON.stringify(members)).not.toContain('email');
    } finally {
      await cyWs.close();
    }
  });

  it('lets admins add people, who see the whole history with nothing unread', async () => {
    const [owner, member, newcomer, another] = await users(4);
    const group = await createGroup(api, owner!, [member!]);
    await sendText(api, member!, group.id, 'before you came');

    const byMember = await api.post(
      `/api/chats/${group.id}/members`,
      { userIds: [newcomer!.id] },
      as(member!),
    );
    expect(refusal(byMember)).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect(refusal(await api.get(`/api/chats/${group.id}`, as(newcomer!)))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });

    const added = await api.post(
      `/api/chats/${group.id}/members`,
      { userIds: [newcomer!.id, member!.id] },
      as(owner!),
    );
    expect(added.status).toBe(200);
    expect(added.body.members.map((m: any) => [m.user.id, m.role])).toEqual([[newcomer!.id, 'member']]);

    const view = await chatOf(newcomer!, group.id);
    expect(view).toMatchObject({ myRole: 'member', unreadCount: 0, lastSeq: 3, lastReadSeq: 3 });
    const history = await messagesOf(newcomer!, group.id);
    expect(history.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(history[1].body).toBe('before you came');
    expect(history[2].system).toMatchObject({
      action: 'member_added',
      actorId: owner!.id,
      userIds: [newcomer!.id],
    });

    const again = await api.post(`/api/chats/${group.id}/members`, { userIds: [newcomer!.id] }, as(owner!));
    expect(again.status).toBe(200);
    expect(again.body.members).toEqual([]);
    expect((await chatOf(owner!, group.id)).lastSeq).toBe(3);

    const unknown = await api.post(
      `/api/chats/${group.id}/members`,
      { userIds: [another!.id, randomUUID()] },
      as(owner!),
    );
    expect(refusal(unknown)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    expect(unknown.body.error.details).toEqual([expect.objectContaining({ path: 'userIds.1' })]);
    expect((await chatOf(owner!, group.id)).memberCount).toBe(3);

    // An admin who is not the owner may add people too.
    await api.put(`/api/chats/${group.id}/members/${member!.id}`, { role: 'admin' }, as(owner!));
    const byAdmin = await api.post(`/api/chats/${group.id}/members`, { userIds: [another!.id] }, as(member!));
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body.members.map((m: any) => m.user.id)).toEqual([another!.id]);
    expect((await chatOf(another!, group.id)).memberCount).toBe(4);

    const direct = await openDirectChat(api, owner!, member!);
    const toDirect = await api.post(
      `/api/chats/${direct.id}/members`,
      { userIds: [another!.id] },
      as(owner!),
    );
    expect(refusal(toDirect)).toEqual({ status: 400, code: 'NOT_A_GROUP' });
  });

  it('lets admins remove members but not admins or the owner; the removed get 404', async () => {
    const [owner, admin, admin2, member, victim] = await users(5);
    const group = await createGroup(api, owner!, [admin!, admin2!, member!, victim!]);
    for (const a of [admin!, admin2!]) {
      await api.put(`/api/chats/${group.id}/members/${a.id}`, { role: 'admin' }, as(owner!));
    }
    const victimWs = await connectAs(server.url, victim!.accessToken);
    try {
      const byMember = await api.del(`/api/chats/${group.id}/members/${victim!.id}`, as(member!));
      expect(refusal(byMember)).toEqual({ status: 403, code: 'FORBIDDEN' });
      for (const target of [admin2!, owner!]) {
        const res = await api.del(`/api/chats/${group.id}/members/${target.id}`, as(admin!));
        expect(refusal(res)).toEqual({ status: 403, code: 'FORBIDDEN' });
      }
      const stranger = await api.del(`/api/chats/${group.id}/members/${randomUUID()}`, as(admin!));
      expect(refusal(stranger)).toEqual({ status: 404, code: 'NOT_FOUND' });

      expect((await api.del(`/api/chats/${group.id}/members/${victim!.id}`, as(admin!))).status).toBe(204);
      await victimWs.waitFor((f) => f.type === 'chat:member_removed' && f.data.userId === victim!.id);
      const line = await lastMessageOf(owner!, group.id);
      expect(line.system).toMatchObject({
        action: 'member_removed',
        actorId: admin!.id,
        userIds: [victim!.id],
      });

      for (const path of ['', '/messages', '/members']) {
        const res = await api.get(`/api/chats/${group.id}${path}`, as(victim!));
        expect({ path, ...refusal(res) }).toEqual({ path, status: 404, code: 'NOT_FOUND' });
      }
      const send = await api.post(
        `/api/chats/${group.id}/messages`,
        { clientMsgId: randomUUID(), body: 'let me back' },
        as(victim!),
      );
      expect(refusal(send)).toEqual({ status: 404, code: 'NOT_FOUND' });
      expect(await chatIdsOf(victim!)).not.toContain(group.id);

      // Nothing from the group reaches the removed member any more.
      const after = await sendText(api, member!, group.id, 'now that they are gone');
      const direct = await openDirectChat(api, member!, victim!);
      const sentinel = await sendText(api, member!, direct.id, 'sentinel');
      await expectNoEventBefore(
        victimWs,
        (f) => f.type === 'message:new' && f.data.message.id === sentinel.id,
        (f) => f.type === 'message:new' && f.data.message.id === after.id,
      );

      // The owner can remove an admin.
      expect((await api.del(`/api/chats/${group.id}/members/${admin2!.id}`, as(owner!))).status).toBe(204);
      expect((await membersOf(owner!, group.id)).map((m) => m.user.id).sort()).toEqual(
        [owner!.id, admin!.id, member!.id].sort(),
      );
    } finally {
      await victimWs.close();
    }
  });

  it('lets only the owner change roles', async () => {
    const [owner, admin, member] = await users(3);
    const group = await createGroup(api, owner!, [admin!, member!]);
    const promoted = await api.put(
      `/api/chats/${group.id}/members/${admin!.id}`,
      { role: 'admin' },
      as(owner!),
    );
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ user: { id: admin!.id }, role: 'admin' });
    expect((await lastMessageOf(member!, group.id)).system).toMatchObject({
      action: 'role_changed',
      userIds: [admin!.id],
      value: 'admin',
    });

    for (const who of [admin!, member!]) {
      const res = await api.put(`/api/chats/${group.id}/members/${member!.id}`, { role: 'admin' }, as(who));
      expect(refusal(res)).toEqual({ status: 403, code: 'FORBIDDEN' });
    }
    const demoteOwner = await api.put(
      `/api/chats/${group.id}/members/${owner!.id}`,
      { role: 'member' },
      as(owner!),
    );
    expect(refusal(demoteOwner)).toEqual({ status: 403, code: 'FORBIDDEN' });
    const badRole = await api.put(
      `/api/chats/${group.id}/members/${member!.id}`,
      { role: 'owner' },
      as(owner!),
    );
    expect(refusal(badRole)).toEqual({ status: 400, code: 'VALIDATION_ERROR' });
    const notMember = await api.put(
      `/api/chats/${group.id}/members/${randomUUID()}`,
      { role: 'admin' },
      as(owner!),
    );
    expect(refusal(notMember)).toEqual({ status: 404, code: 'NOT_FOUND' });

    const members = await membersOf(owner!, group.id);
    expect([roleOf(members, owner!), roleOf(members, admin!), roleOf(members, member!)]).toEqual([
      'owner',
      'admin',
      'member',
    ]);

    const demoted = await api.put(
      `/api/chats/${group.id}/members/${admin!.id}`,
      { role: 'member' },
      as(owner!),
    );
    expect(demoted.body.role).toBe('member');

    const direct = await openDirectChat(api, owner!, member!);
    const inDirect = await api.put(
      `/api/chats/${direct.id}/members/${member!.id}`,
      { role: 'admin' },
      as(owner!),
    );
    expect(refusal(inDirect)).toEqual({ status: 400, code: 'NOT_A_GROUP' });
  });

  it('transfers ownership: the old owner stays as admin', async () => {
    const [owner, heir, member] = await users(3);
    const group = await createGroup(api, owner!, [heir!, member!]);
    const byMember = await api.post(`/api/chats/${group.id}/owner`, { userId: member!.id }, as(heir!));
    expect(refusal(byMember)).toEqual({ status: 403, code: 'FORBIDDEN' });
    const toStranger = await api.post(`/api/chats/${group.id}/owner`, { userId: randomUUID() }, as(owner!));
    expect(refusal(toStranger)).toEqual({ status: 404, code: 'NOT_FOUND' });

    expect((await api.post(`/api/chats/${group.id}/owner`, { userId: heir!.id }, as(owner!))).status).toBe(
      204,
    );
    const members = await membersOf(member!, group.id);
    expect([roleOf(members, owner!), roleOf(members, heir!), roleOf(members, member!)]).toEqual([
      'admin',
      'owner',
      'member',
    ]);
    expect((await lastMessageOf(member!, group.id)).system).toMatchObject({
      action: 'ownership_transferred',
      actorId: owner!.id,
      userIds: [heir!.id],
    });
    expect((await chatOf(owner!, group.id)).myRole).toBe('admin');
    const oldOwnerAgain = await api.post(`/api/chats/${group.id}/owner`, { userId: owner!.id }, as(owner!));
    expect(refusal(oldOwnerAgain)).toEqual({ status: 403, code: 'FORBIDDEN' });
  });

  describe('leaving', () => {
    it("hands an owner's group to the longest-standing admin, even over older members", async () => {
      const [owner, oldMember, admin, newAdmin] = await users(4);
      const group = await createGroup(api, owner!, [oldMember!]);
      for (const u of [admin!, newAdmin!]) {
        server.clock.advance(1000);
        await api.post(`/api/chats/${group.id}/members`, { userIds: [u.id] }, as(owner!));
        await api.put(`/api/chats/${group.id}/members/${u.id}`, { role: 'admin' }, as(owner!));
      }
      expect((await api.post(`/api/chats/${group.id}/leave`, undefined, as(owner!))).status).toBe(204);
      const members = await membersOf(oldMember!, group.id);
      expect(members.map((m) => [m.user.id, m.role]).sort()).toEqual(
        [
          [oldMember!.id, 'member'],
          [admin!.id, 'owner'],
          [newAdmin!.id, 'admin'],
        ].sort(),
      );
      const lines = (await messagesOf(admin!, group.id)).slice(-2).map((m) => m.system);
      expect(lines).toEqual([
        expect.objectContaining({ action: 'member_left', userIds: [owner!.id] }),
        expect.objectContaining({ action: 'ownership_transferred', userIds: [admin!.id] }),
      ]);
      expect(refusal(await api.get(`/api/chats/${group.id}`, as(owner!)))).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
    });

    it('hands it to the longest-standing member when there is no admin', async () => {
      const [owner, first, second] = await users(3);
      const group = await createGroup(api, owner!, []);
      for (const u of [first!, second!]) {
        server.clock.advance(1000);
        await api.post(`/api/chats/${group.id}/members`, { userIds: [u.id] }, as(owner!));
      }
      expect((await api.post(`/api/chats/${group.id}/leave`, undefined, as(owner!))).status).toBe(204);
      const members = await membersOf(second!, group.id);
      expect([roleOf(members, first!), roleOf(members, second!)]).toEqual(['owner', 'member']);
      expect(members).toHaveLength(2);
    });

    it('a member leaving keeps the roles; the last one out deletes the group', async () => {
      const [owner, member] = await users(2);
      const group = await createGroup(api, owner!, [member!]);
      expect((await api.post(`/api/chats/${group.id}/leave`, undefined, as(member!))).status).toBe(204);
      expect(await membersOf(owner!, group.id)).toEqual([expect.objectContaining({ role: 'owner' })]);
      expect(await chatIdsOf(member!)).not.toContain(group.id);

      const ownerWs = await connectAs(server.url, owner!.accessToken);
      try {
        expect((await api.post(`/api/chats/${group.id}/leave`, undefined, as(owner!))).status).toBe(204);
        await ownerWs.waitFor((f) => f.type === 'chat:deleted' && f.data.chatId === group.id);
      } finally {
        await ownerWs.close();
      }
      expect(refusal(await api.get(`/api/chats/${group.id}`, as(owner!)))).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
      expect(await chatIdsOf(owner!)).not.toContain(group.id);
    });

    it('refuses to leave a direct chat with NOT_A_GROUP', async () => {
      const [ana, ben] = await users(2);
      const direct = await openDirectChat(api, ana!, ben!);
      const res = await api.post(`/api/chats/${direct.id}/leave`, undefined, as(ana!));
      expect(refusal(res)).toEqual({ status: 400, code: 'NOT_A_GROUP' });
      expect(await chatIdsOf(ana!)).toContain(direct.id);
    });
  });
});

describe('non-members', () => {
  it("get the same 404, byte for byte, for someone else's chat as for no chat at all", async () => {
    const [ana, ben, stranger] = await users(3);
    const group = await createGroup(api, ana!, [ben!]);
    const direct = await openDirectChat(api, ana!, ben!);
    await sendText(api, ben!, group.id, 'secret');
    const probes: [string, (chatId: string) => Promise<Reply>][] = [
      ['GET chat', (id) => api.get(`/api/chats/${id}`, as(stranger!))],
      ['GET messages', (id) => api.get(`/api/chats/${id}/messages`, as(stranger!))],
      ['GET members', (id) => api.get(`/api/chats/${id}/members`, as(stranger!))],
      [
        'POST message',
        (id) =>
          api.post(`/api/chats/${id}/messages`, { clientMsgId: randomUUID(), body: 'hi' }, as(stranger!)),
      ],
      ['PUT chat', (id) => api.put(`/api/chats/${id}`, { name: 'Mine now' }, as(stranger!))],
      ['POST read', (id) => api.post(`/api/chats/${id}/read`, { upToSeq: 1 }, as(stranger!))],
    ];
    for (const [name, probe] of probes) {
      const nowhere = await probe(randomUUID());
      expect({ name, ...refusal(nowhere) }).toEqual({ name, status: 404, code: 'NOT_FOUND' });
      for (const chatId of [group.id, direct.id]) {
        const res = await probe(chatId);
        expect({ name, status: res.status, text: res.text }).toEqual({
          name,
          status: nowhere.status,
          text: nowhere.text,
        });
      }
    }
    // Nothing the stranger tried changed the chat.
    expect(await chatOf(ana!, group.id)).toMatchObject({ name: group.name, lastSeq: 2, memberCount: 2 });
  });
});

describe('preferences: archive, mute, notify', () => {
  it('archived chats move to the archived list and stay there when messages arrive', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const set = await api.put(`/api/chats/${chat.id}/preferences`, { archived: true }, as(ana!));
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ archived: true, mutedUntil: null, notify: 'all' });
    await sendText(api, ben!, chat.id, 'still archived?');
    const main = await api.get('/api/chats', as(ana!));
    expect(main.body.chats.map((c: any) => c.id)).not.toContain(chat.id);
    const archived = await api.get('/api/chats?archived=true', as(ana!));
    expect(archived.body.chats.map((c: any) => c.id)).toEqual([chat.id]);
    expect(archived.body.chats[0]).toMatchObject({ unreadCount: 1, preferences: { archived: true } });
    // Only for Ana: Ben still has it in his main list.
    expect((await api.get('/api/chats', as(ben!))).body.chats.map((c: any) => c.id)).toContain(chat.id);
    await api.put(`/api/chats/${chat.id}/preferences`, { archived: false }, as(ana!));
    expect((await api.get('/api/chats', as(ana!))).body.chats.map((c: any) => c.id)).toContain(chat.id);
  });

  it('mutes until a time, forever, or not at all, and sets the notify level; other devices hear it', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    const other = await connectAs(server.url, ana!.accessToken);
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const timed = await api.put(
      `/api/chats/${chat.id}/preferences`,
      { mutedUntil: until, notify: 'mentions' },
      as(ana!),
    );
    expect(timed.body).toEqual({ archived: false, mutedUntil: until, notify: 'mentions' });
    const event = await other.waitFor((f: Frame) => f.type === 'chat:preferences');
    expect(event.data).toEqual({ chatId: chat.id, preferences: timed.body });
    const forever = await api.put(`/api/chats/${chat.id}/preferences`, { mutedUntil: 'forever' }, as(ana!));
    expect(forever.body).toMatchObject({ mutedUntil: 'forever', notify: 'mentions' });
    expect((await api.get(`/api/chats/${chat.id}`, as(ana!))).body.preferences).toEqual(forever.body);
    const unmuted = await api.put(
      `/api/chats/${chat.id}/preferences`,
      { mutedUntil: null, notify: 'all' },
      as(ana!),
    );
    expect(unmuted.body).toEqual({ archived: false, mutedUntil: null, notify: 'all' });
    await other.close();
  });

  it('refuses bad values (400) and chats you are not in (404)', async () => {
    const [ana, ben, cy] = await users(3);
    const chat = await openDirectChat(api, ana!, ben!);
    for (const body of [{ notify: 'loud' }, { mutedUntil: 'tomorrow' }, { archived: 'yes' }]) {
      expect(refusal(await api.put(`/api/chats/${chat.id}/preferences`, body, as(ana!)))).toEqual({
        status: 400,
        code: 'VALIDATION_ERROR',
      });
    }
    expect(refusal(await api.put(`/api/chats/${chat.id}/preferences`, { archived: true }, as(cy!)))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(refusal(await api.get('/api/chats?archived=maybe', as(ana!)))).toEqual({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
  });
});
