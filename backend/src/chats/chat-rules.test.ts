/**
 * The chat rules on every path (issue 11, item 4): each rule situation × each command that
 * writes to a chat or causes an event in it, over REST and over WebSocket wherever the
 * command exists there. A refused command answers the rule's error code and the other
 * person hears nothing of it; an allowed one answers ok and (where it makes an event for
 * the others) the other person hears it.
 *
 * "Hears nothing": after all commands of a run, the other person posts a message in a chat
 * of their own and waits for it on their socket; a refused command's event would have been
 * committed (and published, in commit order) or pushed before that, so it would be there.
 *
 * Sends go through both places the rules live: the group-commit statement (direct chats
 * without a request, groups) and chat-rules.ts (chats with a request) — see chat-rules.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorCatalogue, type ErrorCode } from '@parley/contracts';
import { randomUUID } from 'node:crypto';
import {
  createGroup,
  openDirectChat,
  registerUsers,
  sendText,
  type TestUser,
} from '../../test/support/factories.js';
import { as, client, type Client, type Reply } from '../../test/support/http.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';
import { connectAs, type Frame, type WsClient } from '../../test/support/ws.js';

let server: TestServer;
let api: Client;
beforeAll(async () => {
  server = await startTestServer({
    DIRECT_CHAT_POLICY: 'requests',
    // Long: no typing state may end by itself during a run.
    TYPING_TIMEOUT_MS: '60000',
  });
  api = client(server.url);
});
afterAll(() => server.close());

// ---------------------------------------------------------------------------------------
// Situations: who acts (`actor`) in which chat, and who would hear it (`other`).

interface Situation {
  actor: TestUser;
  other: TestUser;
  chatId: string;
  /** The actor's message that stays (edited, reacted to, hidden for me). */
  mine: string;
  /** Another message of the actor's, for deleting for everyone. */
  deletable: string;
  /** An emoji the actor had put on `mine` before the situation arose (removing it is an event). */
  earlierReaction?: string;
}

const EARLIER = '👍';
const ADDED = '🎉';

async function ok(res: Promise<Reply>, status = 200): Promise<Reply> {
  const r = await res;
  if (r.status !== status) throw new Error(`setup: expected ${status}, got ${r.status} ${r.text}`);
  return r;
}

/** A direct chat the other person accepted by writing back; the actor reacted to his own message. */
async function acceptedDirect(): Promise<Situation> {
  const [actor, other] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const chat = await openDirectChat(api, actor, other);
  const mine = await sendText(api, actor, chat.id, 'mine');
  const deletable = await sendText(api, actor, chat.id, 'deletable');
  await sendText(api, other, chat.id, 'welcome');
  await ok(api.post(`/api/messages/${mine.id}/reactions`, { emoji: EARLIER }, as(actor)));
  return { actor, other, chatId: chat.id, mine: mine.id, deletable: deletable.id, earlierReaction: EARLIER };
}

/** A chat request from the actor with `sent` messages (at least 2). */
async function request(sent: number): Promise<Situation> {
  const [actor, other] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const chat = await openDirectChat(api, actor, other);
  const ids: string[] = [];
  for (let n = 0; n < sent; n++) ids.push((await sendText(api, actor, chat.id, `request ${n}`)).id);
  const view = await api.get(`/api/chats/${chat.id}`, as(actor));
  expect(view.body.request).toEqual({ state: 'pending', requestedBy: actor.id });
  return { actor, other, chatId: chat.id, mine: ids[0]!, deletable: ids[1]! };
}

/** A group of `owner`'s with the actor in it, where the actor wrote and reacted. */
async function groupWithActor(ownedByActor: boolean): Promise<Situation> {
  const [actor, other] = (await registerUsers(api, 2)) as [TestUser, TestUser];
  const group = ownedByActor
    ? await createGroup(api, actor, [other])
    : await createGroup(api, other, [actor]);
  const mine = await sendText(api, actor, group.id, 'mine');
  const deletable = await sendText(api, actor, group.id, 'deletable');
  await ok(api.post(`/api/messages/${mine.id}/reactions`, { emoji: EARLIER }, as(actor)));
  return { actor, other, chatId: group.id, mine: mine.id, deletable: deletable.id, earlierReaction: EARLIER };
}

const situations: Record<string, () => Promise<Situation>> = {
  'member of an accepted direct chat': acceptedDirect,
  'member (owner) of a group': () => groupWithActor(true),
  'blocked by the other person': async () => {
    const s = await acceptedDirect();
    await ok(api.post(`/api/users/${s.actor.id}/block`, undefined, as(s.other)), 204);
    return s;
  },
  'blocked the other person': async () => {
    const s = await acceptedDirect();
    await ok(api.post(`/api/users/${s.other.id}/block`, undefined, as(s.actor)), 204);
    return s;
  },
  'requester of a pending request, under the limit': () => request(2),
  'requester of a pending request, at the limit': () => request(3),
  'requester of a rejected request, during the hold': async () => {
    const s = await request(2);
    await ok(api.post(`/api/chats/${s.chatId}/reject`, undefined, as(s.other)), 204);
    return s;
  },
  'removed from the group': async () => {
    const s = await groupWithActor(false);
    await ok(api.del(`/api/chats/${s.chatId}/members/${s.actor.id}`, as(s.other)), 204);
    return s;
  },
  'left the group': async () => {
    const s = await groupWithActor(false);
    await ok(api.post(`/api/chats/${s.chatId}/leave`, undefined, as(s.actor)), 204);
    return s;
  },
  'never a member': async () => {
    const s = await groupWithActor(false);
    const [stranger] = (await registerUsers(api, 1)) as [TestUser];
    return { ...s, actor: stranger, earlierReaction: undefined };
  },
};

// ---------------------------------------------------------------------------------------
// Commands, in the order a run takes them (state-changing ones last: a send counts
// towards the request's limit, a delete for everyone uses up its message).

type Transport = 'rest' | 'ws';
type CommandName =
  | 'typing-start'
  | 'typing-stop'
  | 'edit'
  | 'react-add'
  | 'react-remove'
  | 'mark-read'
  | 'delete-for-me'
  | 'settings'
  | 'delete-for-everyone'
  | 'send';
type Outcome = 'ok' | ErrorCode;

interface Run {
  s: Situation;
  ws: WsClient;
  /** A text unique to this run, to recognise its events. */
  token: string;
  /** Outcomes so far in this run. */
  outcomes: Partial<Record<CommandName, Outcome>>;
  /** With random ids in place of the real ones (the "never a member" comparison). */
  random?: boolean;
}

/** What a command answered: ok, or the error (status, code, message) as the client saw it. */
type Answer = { ok: true } | { ok: false; status: number; error: { code: string; message: string } };

interface Command {
  rest?: (run: Run) => Promise<Reply>;
  ws?: (run: Run) => Promise<Frame>;
  /** The event the other person hears when it is allowed, or null for none. */
  heard: (run: Run) => ((f: Frame) => boolean) | null;
  /** The other person hears it only sometimes when allowed (receipts: only when the position moves). */
  heardMaybe?: boolean;
}

const id = (run: Run, real: string) => (run.random ? randomUUID() : real);
const chatOf = (run: Run) => id(run, run.s.chatId);
const removeEmoji = (run: Run) => run.s.earlierReaction ?? ADDED;
const inChat = (run: Run, f: Frame) => (f.data?.chatId ?? f.data?.message?.chatId) === run.s.chatId;
const byActor = (run: Run, f: Frame) => (f.data?.userId ?? f.data?.message?.senderId) === run.s.actor.id;

const commands: Record<CommandName, Command> = {
  'typing-start': {
    ws: (run) => run.ws.command('typing:start', { chatId: chatOf(run) }),
    heard: (run) => (f) => f.type === 'typing:start' && inChat(run, f) && byActor(run, f),
  },
  'typing-stop': {
    ws: (run) => run.ws.command('typing:stop', { chatId: chatOf(run) }),
    // Announced only when there was a typing state to end.
    heard: (run) =>
      run.outcomes['typing-start'] === 'ok'
        ? (f) => f.type === 'typing:stop' && inChat(run, f) && byActor(run, f)
        : null,
  },
  edit: {
    rest: (run) => api.put(`/api/messages/${id(run, run.s.mine)}`, { body: run.token }, as(run.s.actor)),
    ws: (run) => run.ws.command('message:edit', { messageId: id(run, run.s.mine), body: run.token }),
    heard: (run) => (f) => f.type === 'message:edited' && f.data.message.body === run.token,
  },
  'react-add': {
    rest: (run) =>
      api.post(`/api/messages/${id(run, run.s.mine)}/reactions`, { emoji: ADDED }, as(run.s.actor)),
    ws: (run) => run.ws.command('reaction:add', { messageId: id(run, run.s.mine), emoji: ADDED }),
    heard: (run) => (f) => f.type === 'reaction:added' && f.data.messageId === run.s.mine && byActor(run, f),
  },
  'react-remove': {
    rest: (run) =>
      api.del(
        `/api/messages/${id(run, run.s.mine)}/reactions/${encodeURIComponent(removeEmoji(run))}`,
        as(run.s.actor),
      ),
    ws: (run) =>
      run.ws.command('reaction:remove', { messageId: id(run, run.s.mine), emoji: removeEmoji(run) }),
    heard: (run) => (f) =>
      f.type === 'reaction:removed' && f.data.messageId === run.s.mine && byActor(run, f),
  },
  'mark-read': {
    rest: (run) => api.post(`/api/chats/${chatOf(run)}/read`, { upToSeq: 1_000_000 }, as(run.s.actor)),
    ws: (run) => run.ws.command('chat:read', { chatId: chatOf(run), upToSeq: 1_000_000 }),
    heard: (run) => (f) => f.type === 'message:read' && inChat(run, f) && byActor(run, f),
    heardMaybe: true,
  },
  'delete-for-me': {
    rest: (run) => api.del(`/api/messages/${id(run, run.s.mine)}?scope=me`, as(run.s.actor)),
    ws: (run) => run.ws.command('message:delete', { messageId: id(run, run.s.mine), scope: 'me' }),
    // Only the actor's own devices hear it, whatever the rules say.
    heard: () => null,
  },
  settings: {
    rest: (run) =>
      api.put(`/api/chats/${chatOf(run)}/settings`, { messageTtlSeconds: 3600 }, as(run.s.actor)),
    heard: (run) => (f) =>
      f.type === 'message:new' && inChat(run, f) && f.data.message.system?.action === 'ttl_changed',
  },
  'delete-for-everyone': {
    rest: (run) => api.del(`/api/messages/${id(run, run.s.deletable)}?scope=everyone`, as(run.s.actor)),
    ws: (run) => run.ws.command('message:delete', { messageId: id(run, run.s.deletable), scope: 'everyone' }),
    heard: (run) => (f) =>
      f.type === 'message:deleted' && f.data.messageId === run.s.deletable && f.data.scope === 'everyone',
  },
  send: {
    rest: (run) =>
      api.post(
        `/api/chats/${chatOf(run)}/messages`,
        { clientMsgId: randomUUID(), body: run.token },
        as(run.s.actor),
      ),
    ws: (run) =>
      run.ws.command('message:send', { chatId: chatOf(run), clientMsgId: randomUUID(), body: run.token }),
    heard: (run) => (f) => f.type === 'message:new' && f.data.message.body === run.token,
  },
};

const commandNames = Object.keys(commands) as CommandName[];

// ---------------------------------------------------------------------------------------
// The matrix: situation × command → outcome (the same over REST and WebSocket).

const all = (outcome: Outcome) =>
  Object.fromEntries(commandNames.map((c) => [c, outcome])) as Record<CommandName, Outcome>;
/** Writes and events towards the other person refused; reading and hiding for me allowed. */
const heldOff = (code: ErrorCode): Record<CommandName, Outcome> => ({
  ...all(code),
  'mark-read': 'ok',
  'delete-for-me': 'ok',
});

const matrix: Record<keyof typeof situations, Record<CommandName, Outcome>> = {
  'member of an accepted direct chat': all('ok'),
  'member (owner) of a group': all('ok'),
  'blocked by the other person': heldOff('BLOCKED'),
  'blocked the other person': heldOff('BLOCKED'),
  'requester of a pending request, under the limit': {
    ...all('ok'),
    edit: 'CHAT_REQUEST_LIMIT',
    'react-add': 'CHAT_REQUEST_LIMIT',
    'react-remove': 'CHAT_REQUEST_LIMIT',
    settings: 'CHAT_REQUEST_LIMIT',
  },
  'requester of a pending request, at the limit': {
    ...all('CHAT_REQUEST_LIMIT'),
    'typing-stop': 'ok',
    'mark-read': 'ok',
    'delete-for-me': 'ok',
    'delete-for-everyone': 'ok',
  },
  'requester of a rejected request, during the hold': heldOff('CHAT_REQUEST_DECLINED'),
  'removed from the group': all('NOT_FOUND'),
  'left the group': all('NOT_FOUND'),
  'never a member': all('NOT_FOUND'),
};

async function answer(transport: Transport, command: Command, run: Run): Promise<Answer> {
  if (transport === 'rest') {
    const res = await command.rest!(run);
    if (res.status < 300) return { ok: true };
    return { ok: false, status: res.status, error: res.body.error };
  }
  const ack = await command.ws!(run);
  if (ack.ok) return { ok: true };
  return { ok: false, status: errorCatalogue[ack.error!.code as ErrorCode].status, error: ack.error! };
}

/** The other person posts in a chat of their own and waits for it: everything sent before is in. */
async function flush(other: TestUser, ws: WsClient) {
  const own = await createGroup(api, other, []);
  const marker = await sendText(api, other, own.id, `marker ${randomUUID()}`);
  await ws.waitFor((f) => f.type === 'message:new' && f.data.message.id === marker.id);
}

describe.each(Object.keys(situations))('%s', (name) => {
  it.each(['rest', 'ws'] as const)('every command over %s', async (transport) => {
    const s = await situations[name]!();
    const expected = matrix[name]!;
    const [actorWs, otherWs] = await Promise.all([
      connectAs(server.url, s.actor.accessToken),
      connectAs(server.url, s.other.accessToken),
    ]);
    const run: Run = { s, ws: actorWs, token: `run ${randomUUID()}`, outcomes: {} };
    const silent: { command: CommandName; heard: (f: Frame) => boolean }[] = [];
    const results: Record<string, Outcome> = {};
    const wanted: Record<string, Outcome> = {};
    for (const cmd of commandNames) {
      const command: Command = commands[cmd];
      if (!command[transport]) continue;
      const got = await answer(transport, command, run);
      const outcome: Outcome = got.ok ? 'ok' : (got.error.code as ErrorCode);
      run.outcomes[cmd] = outcome;
      results[cmd] = outcome;
      wanted[cmd] = expected[cmd];
      if (!got.ok) {
        // The error shape, with the status the catalogue gives the code.
        expect(got.status).toBe(errorCatalogue[outcome as ErrorCode].status);
        expect(typeof got.error.message).toBe('string');
      }
      if (expected[cmd] === 'NOT_FOUND' && !got.ok) {
        // Not a member: exactly what a random id gets (no existence leak).
        const random = await answer(transport, command, { ...run, random: true });
        expect(random).toEqual(got);
      }
      const heard = command.heard(run);
      if (!heard) continue;
      if (outcome === 'ok' && !command.heardMaybe) await otherWs.waitFor(heard);
      else if (outcome !== 'ok') silent.push({ command: cmd, heard });
    }
    // One table compare: a failure shows every command's outcome at once.
    expect(results).toEqual(wanted);

    await flush(s.other, otherWs);
    const leaked = silent.filter(({ heard }) => otherWs.events.some(heard)).map(({ command }) => command);
    expect(leaked).toEqual([]);
    // Hiding a message for me never reaches anyone else.
    expect(otherWs.events.filter((f) => f.type === 'message:deleted' && f.data.scope === 'me')).toEqual([]);
    await Promise.all([actorWs.close(), otherWs.close()]);
  });
});

it('the matrix covers every command of the rules module', async () => {
  const { actionRules } = await import('./chat-rules.js');
  // react-add and react-remove are both "react".
  const covered = new Set(commandNames.map((c) => (c.startsWith('react-') ? 'react' : c)));
  expect([...covered].sort()).toEqual(Object.keys(actionRules).sort());
});

it('typing begun before a block: neither a new start nor the state ending reaches the blocker', async () => {
  const s = await acceptedDirect();
  // A witness who shares a group with the actor hears him go offline, which comes after his typing states end.
  const [witness] = (await registerUsers(api, 1)) as [TestUser];
  await createGroup(api, witness, [s.actor]);
  const [actorWs, otherWs, witnessWs] = await Promise.all([
    connectAs(server.url, s.actor.accessToken),
    connectAs(server.url, s.other.accessToken),
    connectAs(server.url, witness.accessToken),
  ]);
  const typing = (type: string) => (f: Frame) =>
    f.type === type && f.data.chatId === s.chatId && f.data.userId === s.actor.id;
  expect((await actorWs.command('typing:start', { chatId: s.chatId })).ok).toBe(true);
  await otherWs.waitFor(typing('typing:start'));
  await ok(api.post(`/api/users/${s.actor.id}/block`, undefined, as(s.other)), 204);
  // Within the throttle window a start used to be answered from memory: now it is checked.
  const again = await actorWs.command('typing:start', { chatId: s.chatId });
  expect(again.error?.code).toBe('BLOCKED');
  // Going offline ends the typing state begun before the block: unheard by the blocker.
  await actorWs.close();
  await witnessWs.waitFor((f) => f.type === 'presence:offline' && f.data.userId === s.actor.id);
  await flush(s.other, otherWs);
  expect(otherWs.events.filter(typing('typing:start'))).toHaveLength(1);
  expect(otherWs.events.filter(typing('typing:stop'))).toEqual([]);
  await Promise.all([otherWs.close(), witnessWs.close()]);
});
