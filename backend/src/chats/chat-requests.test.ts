/** Chat requests with DIRECT_CHAT_POLICY=requests: strangers ask first, contacts do not. */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { openDirectChat, registerUsers } from '../../test/support/factories.js';
import { as, client, refusal, type Client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame } from '../../test/support/ws.js';

let server: TestServer;
let api: Client;
beforeAll(async () => {
  server = await startTestServer({ DIRECT_CHAT_POLICY: 'requests' });
  api = client(server.url);
});
afterAll(() => server.close());

const send = (user: { accessToken: string }, chatId: string, body = 'hi') =>
  api.post(`/api/chats/${chatId}/messages`, { clientMsgId: randomUUID(), body }, as(user));
const ids = (res: { body: { chats: { id: string }[] } }) => res.body.chats.map((c) => c.id);

it('a stranger’s chat is a request: listed apart, 3 messages until accepted', async () => {
  const [ana, ben] = await registerUsers(api, 2);
  const chat = await openDirectChat(api, ana!, ben!);
  expect((await api.get(`/api/chats/${chat.id}`, as(ana!))).body.request).toEqual({
    state: 'pending',
    requestedBy: ana!.id,
  });
  for (let n = 0; n < 3; n++) expect((await send(ana!, chat.id, `m${n}`)).status).toBe(201);
  expect(refusal(await send(ana!, chat.id, 'one too many'))).toEqual({
    status: 403,
    code: 'CHAT_REQUEST_LIMIT',
  });
  const ws = await connectAs(server.url, ana!.accessToken);
  const ack = await ws.command('message:send', { chatId: chat.id, clientMsgId: randomUUID(), body: 'ws' });
  expect(ack.error?.code).toBe('CHAT_REQUEST_LIMIT');

  expect(ids(await api.get('/api/chats', as(ben!)))).not.toContain(chat.id);
  const requests = await api.get('/api/chats/requests', as(ben!));
  expect(ids(requests)).toEqual([chat.id]);
  expect(requests.body.chats[0]).toMatchObject({ unreadCount: 3, lastMessage: { text: 'm2' } });
  expect(ids(await api.get('/api/chats', as(ana!)))).toContain(chat.id);
  expect(ids(await api.get('/api/chats/requests', as(ana!)))).toEqual([]);

  // Only the person asked answers.
  const own = await api.post(`/api/chats/${chat.id}/accept`, undefined, as(ana!));
  expect(refusal(own)).toEqual({ status: 403, code: 'FORBIDDEN' });
  const accepted = await api.post(`/api/chats/${chat.id}/accept`, undefined, as(ben!));
  expect(accepted.status).toBe(200);
  expect(accepted.body.request).toBeNull();
  const updated = await ws.waitFor((f) => f.type === 'chat:updated' && f.data.chat.id === chat.id);
  expect(updated.data.chat.request).toBeNull();
  expect(ids(await api.get('/api/chats', as(ben!)))).toContain(chat.id);
  expect((await send(ana!, chat.id, 'now we talk')).status).toBe(201);
  await ws.close();
});

it('rejecting hides it and holds the requester off for 24 hours', async () => {
  const [ana, ben] = await registerUsers(api, 2);
  const chat = await openDirectChat(api, ana!, ben!);
  await send(ana!, chat.id, 'hello?');
  expect((await api.post(`/api/chats/${chat.id}/reject`, undefined, as(ben!))).status).toBe(204);
  expect(ids(await api.get('/api/chats/requests', as(ben!)))).toEqual([]);
  expect(ids(await api.get('/api/chats', as(ben!)))).not.toContain(chat.id);
  expect(refusal(await send(ana!, chat.id))).toEqual({ status: 403, code: 'CHAT_REQUEST_DECLINED' });
  const again = await api.post('/api/chats/direct', { userId: ben!.id }, as(ana!));
  expect(refusal(again)).toEqual({ status: 403, code: 'CHAT_REQUEST_DECLINED' });
  // Rejecting twice, or rejecting your own request, is not a thing.
  expect(refusal(await api.post(`/api/chats/${chat.id}/reject`, undefined, as(ana!)))).toEqual({
    status: 403,
    code: 'FORBIDDEN',
  });

  server.clock.advance(24 * 3_600_000 + 1000);
  const later = await api.post('/api/chats/direct', { userId: ben!.id }, as(ana!));
  expect(later.status).toBe(200);
  expect(later.body.request).toEqual({ state: 'pending', requestedBy: ana!.id });
  expect(ids(await api.get('/api/chats/requests', as(ben!)))).toEqual([chat.id]);
});

it('writing back accepts; contacts skip the request; becoming contacts accepts a pending one', async () => {
  const [ana, ben, cy, dee] = await registerUsers(api, 4);
  const chat = await openDirectChat(api, ana!, ben!);
  expect((await send(ben!, chat.id, 'sure, hi')).status).toBe(201);
  expect((await api.get(`/api/chats/${chat.id}`, as(ana!))).body.request).toBeNull();

  await api.post('/api/contacts/requests', { userId: dee!.id }, as(cy!));
  await api.post('/api/contacts/requests', { userId: cy!.id }, as(dee!));
  const between = await openDirectChat(api, cy!, dee!);
  expect((await api.get(`/api/chats/${between.id}`, as(cy!))).body.request).toBeNull();

  const pending = await openDirectChat(api, ana!, cy!);
  expect((await api.get(`/api/chats/${pending.id}`, as(ana!))).body.request?.state).toBe('pending');
  await api.post('/api/contacts/requests', { userId: cy!.id }, as(ana!));
  await api.post('/api/contacts/requests', { userId: ana!.id }, as(cy!));
  expect((await api.get(`/api/chats/${pending.id}`, as(ana!))).body.request).toBeNull();
});

it('each side of a direct chat is told of its changes under the other person’s name (request, accept, reply, timer)', async () => {
  const [ana, ben] = await registerUsers(api, 2);
  const [wsAna, wsBen] = await Promise.all([
    connectAs(server.url, ana!.accessToken),
    connectAs(server.url, ben!.accessToken),
  ]);
  const chat = await openDirectChat(api, ana!, ben!);
  expect((await send(ana!, chat.id, 'hello')).status).toBe(201);
  expect((await api.post(`/api/chats/${chat.id}/accept`, undefined, as(ben!))).status).toBe(200);
  expect((await send(ben!, chat.id, 'hi back')).status).toBe(201);
  expect(
    (await api.put(`/api/chats/${chat.id}/settings`, { messageTtlSeconds: 3600 }, as(ben!))).status,
  ).toBe(200);
  const timerSet = (f: Frame) =>
    f.type === 'chat:updated' &&
    (f.data as { chat: { messageTtlSeconds: number | null } }).chat.messageTtlSeconds === 3600;
  await Promise.all([wsAna.waitFor(timerSet), wsBen.waitFor(timerSet)]);
  const namesSeen = (events: Frame[]) => [
    ...new Set(
      events
        .filter((f) => f.type === 'chat:updated' || f.type === 'chat:created')
        .map((f) => (f.data as { chat: { name: string } }).chat.name),
    ),
  ];
  expect(namesSeen(wsAna.events)).toEqual([ben!.displayName]);
  expect(namesSeen(wsBen.events)).toEqual([ana!.displayName]);
  await Promise.all([wsAna.close(), wsBen.close()]);
});
