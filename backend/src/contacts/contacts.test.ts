/** Contacts, contact requests and blocking, through HTTP and live events. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createGroup, openDirectChat, registerUsers, sendText } from '../../test/support/factories.js';
import { as, client, refusal, type Client } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame } from '../../test/support/ws.js';

let server: TestServer;
let api: Client;
beforeAll(async () => {
  server = await startTestServer();
  api = client(server.url);
});
afterAll(() => server.close());

const users = (n: number) => registerUsers(api, n);
const settle = () => new Promise((r) => setTimeout(r, 250));
const of = (type: string) => (f: Frame) => f.type === type;

describe('contact requests', () => {
  it('a request reaches both sides live, and accepting makes both contacts', async () => {
    const [ana, ben] = await users(2);
    const [wa, wb] = await Promise.all([
      connectAs(server.url, ana!.accessToken),
      connectAs(server.url, ben!.accessToken),
    ]);
    const sent = await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!));
    expect(sent.status).toBe(201);
    expect(sent.body.request).toMatchObject({ direction: 'outgoing', user: { id: ben!.id } });
    expect((await wb.waitFor(of('contact:request'))).data.request).toMatchObject({
      id: sent.body.request.id,
      direction: 'incoming',
      user: { id: ana!.id },
    });
    expect((await wa.waitFor(of('contact:request'))).data.request.direction).toBe('outgoing');
    // Asking again changes nothing.
    const again = await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!));
    expect(again.status).toBe(200);
    expect(again.body.request.id).toBe(sent.body.request.id);

    const lists = await api.get('/api/contacts/requests', as(ben!));
    expect(lists.body.incoming.map((r: any) => r.id)).toEqual([sent.body.request.id]);
    expect(lists.body.outgoing).toEqual([]);

    // Only the person asked may accept.
    const byAsker = await api.post(
      `/api/contacts/requests/${sent.body.request.id}/accept`,
      undefined,
      as(ana!),
    );
    expect(refusal(byAsker)).toEqual({ status: 403, code: 'FORBIDDEN' });
    const accepted = await api.post(
      `/api/contacts/requests/${sent.body.request.id}/accept`,
      undefined,
      as(ben!),
    );
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ user: { id: ana!.id }, online: true });
    expect((await wa.waitFor(of('contact:added'))).data.contact.user.id).toBe(ben!.id);
    expect((await wb.waitFor(of('contact:added'))).data.contact.user.id).toBe(ana!.id);
    await wa.waitFor(of('contact:request_removed'));

    for (const [me, other] of [
      [ana!, ben!],
      [ben!, ana!],
    ] as const) {
      const contacts = await api.get('/api/contacts', as(me));
      expect(contacts.body.contacts.map((c: any) => c.user.id)).toEqual([other.id]);
      expect(contacts.body.contacts[0].online).toBe(true);
    }
    const twice = await api.post('/api/contacts/requests', { userId: ana!.id }, as(ben!));
    expect(refusal(twice)).toEqual({ status: 409, code: 'ALREADY_CONTACTS' });
    await Promise.all([wa.close(), wb.close()]);
  });

  it('asking someone who already asked you makes you contacts at once', async () => {
    const [ana, ben] = await users(2);
    await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!));
    const back = await api.post('/api/contacts/requests', { userId: ana!.id }, as(ben!));
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ request: null, contact: { user: { id: ana!.id } } });
    const requests = await api.get('/api/contacts/requests', as(ana!));
    expect(requests.body).toEqual({ incoming: [], outgoing: [] });
  });

  it('reject by the person asked, cancel by the asker; strangers get 404', async () => {
    const [ana, ben, cy] = await users(3);
    const first = (await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!))).body.request;
    const stranger = await api.del(`/api/contacts/requests/${first.id}`, as(cy!));
    expect(refusal(stranger)).toEqual({ status: 404, code: 'NOT_FOUND' });
    const strangerAccept = await api.post(`/api/contacts/requests/${first.id}/accept`, undefined, as(cy!));
    expect(refusal(strangerAccept)).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect((await api.del(`/api/contacts/requests/${first.id}`, as(ben!))).status).toBe(204);
    expect((await api.get('/api/contacts/requests', as(ana!))).body.outgoing).toEqual([]);
    const second = (await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!))).body.request;
    expect((await api.del(`/api/contacts/requests/${second.id}`, as(ana!))).status).toBe(204);
    expect((await api.get('/api/contacts/requests', as(ben!))).body.incoming).toEqual([]);
    expect((await api.get('/api/contacts', as(ana!))).body.contacts).toEqual([]);
  });

  it('refuses yourself (400), unknown people (404) and bad ids (400)', async () => {
    const [ana] = await users(1);
    expect(refusal(await api.post('/api/contacts/requests', { userId: ana!.id }, as(ana!)))).toEqual({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
    expect(refusal(await api.post('/api/contacts/requests', { userId: randomUUID() }, as(ana!)))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(refusal(await api.post('/api/contacts/requests', { userId: 'nope' }, as(ana!)))).toEqual({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
    expect(refusal(await api.get('/api/contacts'))).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('either side may remove the contact; both hear it', async () => {
    const [ana, ben] = await users(2);
    await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!));
    await api.post('/api/contacts/requests', { userId: ana!.id }, as(ben!));
    const wa = await connectAs(server.url, ana!.accessToken);
    expect((await api.del(`/api/contacts/${ana!.id}`, as(ben!))).status).toBe(204);
    expect((await wa.waitFor(of('contact:removed'))).data.userId).toBe(ben!.id);
    expect((await api.get('/api/contacts', as(ana!))).body.contacts).toEqual([]);
    expect(refusal(await api.del(`/api/contacts/${ana!.id}`, as(ben!)))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    await wa.close();
  });
});

describe('blocking', () => {
  it('stops direct chats, direct messages and contact requests in both directions', async () => {
    const [ana, ben] = await users(2);
    const chat = await openDirectChat(api, ana!, ben!);
    await sendText(api, ben!, chat.id, 'before the block');
    expect((await api.post(`/api/users/${ben!.id}/block`, undefined, as(ana!))).status).toBe(204);
    // Blocking twice is fine.
    expect((await api.post(`/api/users/${ben!.id}/block`, undefined, as(ana!))).status).toBe(204);
    expect((await api.get('/api/users/blocked', as(ana!))).body.users.map((u: any) => u.id)).toEqual([
      ben!.id,
    ]);

    for (const [from, to] of [
      [ben!, ana!],
      [ana!, ben!],
    ] as const) {
      const send = await api.post(
        `/api/chats/${chat.id}/messages`,
        { clientMsgId: randomUUID(), body: 'hello?' },
        as(from),
      );
      expect(refusal(send)).toEqual({ status: 403, code: 'BLOCKED' });
      const open = await api.post('/api/chats/direct', { userId: to.id }, as(from));
      expect(refusal(open)).toEqual({ status: 403, code: 'BLOCKED' });
      const ask = await api.post('/api/contacts/requests', { userId: to.id }, as(from));
      expect(refusal(ask)).toEqual({ status: 403, code: 'BLOCKED' });
    }
    // Over WebSocket too.
    const wb = await connectAs(server.url, ben!.accessToken);
    const ack = await wb.command('message:send', { chatId: chat.id, clientMsgId: randomUUID(), body: 'ws?' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'BLOCKED' } });
    // The history stays readable.
    const page = await api.get(`/api/chats/${chat.id}/messages`, as(ben!));
    expect(page.body.messages.map((m: any) => m.body)).toEqual(['before the block']);

    // Unblocking restores messaging.
    expect((await api.del(`/api/users/${ben!.id}/block`, as(ana!))).status).toBe(204);
    expect((await api.get('/api/users/blocked', as(ana!))).body.users).toEqual([]);
    await sendText(api, ben!, chat.id, 'after the unblock');
    await wb.close();
  });

  it('shared groups still work between them', async () => {
    const [ana, ben, cy] = await users(3);
    const group = await createGroup(api, cy!, [ana!, ben!]);
    await api.post(`/api/users/${ben!.id}/block`, undefined, as(ana!));
    await sendText(api, ben!, group.id, 'in the group');
    await sendText(api, ana!, group.id, 'me too');
  });

  it('ends the contact and pending requests between them', async () => {
    const [ana, ben, cy] = await users(3);
    await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!));
    await api.post('/api/contacts/requests', { userId: ana!.id }, as(ben!));
    await api.post('/api/contacts/requests', { userId: ana!.id }, as(cy!));
    const wb = await connectAs(server.url, ben!.accessToken);
    await api.post(`/api/users/${ben!.id}/block`, undefined, as(ana!));
    await api.post(`/api/users/${cy!.id}/block`, undefined, as(ana!));
    expect((await wb.waitFor(of('contact:removed'))).data.userId).toBe(ana!.id);
    expect((await api.get('/api/contacts', as(ana!))).body.contacts).toEqual([]);
    expect((await api.get('/api/contacts/requests', as(ana!))).body).toEqual({ incoming: [], outgoing: [] });
    await wb.close();
  });

  it('hides the blocker’s presence from the blocked person', async () => {
    const [ana, ben, cy] = await users(3);
    const group = await createGroup(api, cy!, [ana!, ben!]);
    await api.post(`/api/users/${ben!.id}/block`, undefined, as(ana!));
    const wb = await connectAs(server.url, ben!.accessToken);
    const wc = await connectAs(server.url, cy!.accessToken);
    const wa = await connectAs(server.url, ana!.accessToken);
    await wc.waitFor((f) => f.type === 'presence:online' && f.data.userId === ana!.id);
    await wa.close();
    await wc.waitFor((f) => f.type === 'presence:offline' && f.data.userId === ana!.id);
    await settle();
    expect(wb.events.filter((f) => f.type.startsWith('presence:') && f.data.userId === ana!.id)).toEqual([]);
    const wa2 = await connectAs(server.url, ana!.accessToken);
    const members = (await api.get(`/api/chats/${group.id}/members`, as(ben!))).body.members;
    expect(members.find((m: any) => m.user.id === ana!.id)).toMatchObject({
      online: false,
      lastSeenAt: null,
    });
    const seenByCy = (await api.get(`/api/chats/${group.id}/members`, as(cy!))).body.members;
    expect(seenByCy.find((m: any) => m.user.id === ana!.id).online).toBe(true);
    await Promise.all([wa2.close(), wb.close(), wc.close()]);
  });

  it('refuses blocking yourself (400) and unknown people (404)', async () => {
    const [ana] = await users(1);
    expect(refusal(await api.post(`/api/users/${ana!.id}/block`, undefined, as(ana!)))).toEqual({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
    expect(refusal(await api.post(`/api/users/${randomUUID()}/block`, undefined, as(ana!)))).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
  });
});

it('contacts see each other’s presence even without a shared chat', async () => {
  const [ana, ben] = await users(2);
  await api.post('/api/contacts/requests', { userId: ben!.id }, as(ana!));
  await api.post('/api/contacts/requests', { userId: ana!.id }, as(ben!));
  const wa = await connectAs(server.url, ana!.accessToken);
  const wb = await connectAs(server.url, ben!.accessToken);
  expect((await wa.waitFor(of('presence:online'))).data.userId).toBe(ben!.id);
  await Promise.all([wa.close(), wb.close()]);
});
