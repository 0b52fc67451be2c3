/**
 * What the fuzzer's requests point at: a few real users (the first one registered is the
 * installation's administrator), their direct chats and groups with messages, contact
 * requests, and spare sessions for the routes that sign a session out. Made through the
 * public API like any client; `refresh()` tops it up between batches, since the fuzzer
 * deletes chats, leaves groups and blocks people as it goes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IdPools } from './arbitraries.js';

/**
 * The server settings a fuzz run needs on top of the defaults (fuzz.test.ts and
 * scripts/fuzz.mjs): the few users of the world send and connect far faster than people do,
 * and the per-user limits would answer most of their cases before a handler saw them.
 */
export const FUZZ_SERVER_ENV: Record<string, string> = {
  // Sends: the per-user send limits would answer most sends with 429.
  SEND_RATE_PER_SECOND: '10000',
  SEND_BURST: '100000',
  // Cases on a socket of their own sign in as one of a few users: the per-user connect
  // allowance would refuse their auth.
  USER_CONNECT_RATE_PER_SECOND: '10000',
  USER_CONNECT_BURST: '100000',
  // A socket a case closed counts until the server has seen it go: at a few hundred cases
  // a second one user's may pass the cap of sockets at once.
  WS_MAX_SOCKETS_PER_USER: '100000',
};

export interface FuzzUser {
  id: string;
  username: string;
  password: string;
  accessToken: string;
  sessionId: string;
  /** When the access token was issued (ms): tokens expire (ACCESS_TOKEN_TTL_SECONDS, 15 min by default). */
  issuedAt: number;
}

/** Sign in again well before an access token of the default lifetime expires. */
const TOKEN_RENEW_AFTER_MS = 5 * 60_000;

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed };
}

function must<T extends { status: number; body: any }>(res: T, what: string, ok = [200, 201, 204]): T {
  if (!ok.includes(res.status))
    throw new Error(`fuzz world: ${what} answered ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

export class FuzzWorld {
  readonly users: FuzzUser[] = [];
  readonly chatIds = new Set<string>();
  readonly messageIds = new Set<string>();
  readonly requestIds = new Set<string>();
  /** Sessions of the users made only to be signed out (logout, revokeSession); used once each. */
  readonly spareSessions: { token: string; sessionId: string; issuedAt: number }[] = [];
  private readonly spareSessionIds = new Set<string>();
  /** Users registered by the fuzzer itself (valid register/createUser requests). */
  extraUserIds = new Set<string>();

  private constructor(readonly base: string) {}

  static async create(base: string, userCount = 4, spareSessions = 6): Promise<FuzzWorld> {
    const world = new FuzzWorld(base);
    const tag = randomBytes(3).toString('hex');
    // One at a time: the first is the administrator.
    for (let i = 0; i < userCount; i++) {
      const username = `fuzz_${tag}_${i}`;
      const password = `fuzz password ${tag}`;
      const res = must(
        await call(base, 'POST', '/api/auth/register', {
          username,
          email: `${username}@example.test`,
          password,
          displayName: `Fuzz ${i}`,
        }),
        'register',
      );
      world.users.push({
        id: res.body.user.id,
        username,
        password,
        accessToken: res.body.accessToken,
        sessionId: res.body.sessionId,
        issuedAt: Date.now(),
      });
    }
    for (let i = 0; i < spareSessions; i++) await world.addSpareSession(world.users[i % userCount]!);
    const [a, b, c] = world.users;
    // Contact requests (some stay pending, for accept and dismiss).
    for (const [from, to] of [
      [a, b],
      [c, a],
    ] as const) {
      if (!from || !to) continue;
      const res = await call(base, 'POST', '/api/contacts/requests', { userId: to.id }, from.accessToken);
      if (res.body?.request?.id) world.requestIds.add(res.body.request.id);
    }
    await world.refresh();
    return world;
  }

  async addSpareSession(user: FuzzUser): Promise<void> {
    const res = must(
      await call(this.base, 'POST', '/api/auth/login', {
        login: user.username,
        password: user.password,
        deviceName: 'fuzz spare',
      }),
      'login',
    );
    this.spareSessions.push({
      token: res.body.accessToken,
      sessionId: res.body.sessionId,
      issuedAt: Date.now(),
    });
    this.spareSessionIds.add(res.body.sessionId);
  }

  /** A spare session's token, used once (undefined when none is left). */
  takeSpareSession(): string | undefined {
    return this.spareSessions.shift()?.token;
  }

  /**
   * Between batches: users whose session was signed out sign in again; each user has a
   * group and direct chats with messages in them (the fuzzer deletes and leaves chats).
   */
  async refresh(): Promise<void> {
    await this.keepSignedIn();
    for (const user of this.users) {
      const me = await call(this.base, 'GET', '/api/users/me', undefined, user.accessToken);
      if (me.status === 401) {
        const res = must(
          await call(this.base, 'POST', '/api/auth/login', { login: user.username, password: user.password }),
          'login again',
        );
        user.accessToken = res.body.accessToken;
        user.sessionId = res.body.sessionId;
        user.issuedAt = Date.now();
      }
    }
    this.chatIds.clear();
    for (const [i, user] of this.users.entries()) {
      const others = this.users.filter((u) => u !== user);
      // Unblock, so that direct chats can be opened and written to again.
      for (const other of others)
        await call(this.base, 'DELETE', `/api/users/${other.id}/block`, undefined, user.accessToken);
      const list = must(
        await call(this.base, 'GET', '/api/chats?limit=100', undefined, user.accessToken),
        'chats',
      );
      const chats = list.body.chats as { id: string; kind: string; myRole: string }[];
      if (!chats.some((c) => c.kind === 'group' && c.myRole === 'owner')) {
        const res = await call(
          this.base,
          'POST',
          '/api/chats/group',
          { name: `Fuzz group ${i}`, memberIds: others.map((o) => o.id) },
          user.accessToken,
        );
        if (res.body?.id) chats.push(res.body);
      }
      const peer = others[i % others.length];
      if (peer && !chats.some((c) => c.kind === 'direct')) {
        const res = await call(this.base, 'POST', '/api/chats/direct', { userId: peer.id }, user.accessToken);
        if (res.body?.id) chats.push(res.body);
      }
      for (const chat of chats.slice(0, 3)) {
        this.chatIds.add(chat.id);
        const sent = await call(
          this.base,
          'POST',
          `/api/chats/${chat.id}/messages`,
          { clientMsgId: randomUUID(), body: `fuzz world message @${peer?.username ?? 'nobody'}` },
          user.accessToken,
        );
        if (sent.body?.id) this.messageIds.add(sent.body.id);
      }
      for (const chat of chats) this.chatIds.add(chat.id);
    }
    // Messages pile up over a long run: keep the newest few hundred.
    if (this.messageIds.size > 300) {
      const keep = [...this.messageIds].slice(-300);
      this.messageIds.clear();
      for (const id of keep) this.messageIds.add(id);
    }
  }

  /** Long runs: users whose access token is getting old sign in again (a new session). */
  async keepSignedIn(): Promise<void> {
    for (const user of this.users) {
      if (Date.now() - user.issuedAt < TOKEN_RENEW_AFTER_MS) continue;
      const res = must(
        await call(this.base, 'POST', '/api/auth/login', { login: user.username, password: user.password }),
        'login again',
      );
      user.accessToken = res.body.accessToken;
      user.sessionId = res.body.sessionId;
      user.issuedAt = Date.now();
    }
    // Spare sessions age too: drop the old ones (new ones are made as needed).
    this.spareSessions.splice(
      0,
      this.spareSessions.length,
      ...this.spareSessions.filter((s) => Date.now() - s.issuedAt < TOKEN_RENEW_AFTER_MS),
    );
  }

  /** Real ids for a route's uuid fields; `id` means different things on different routes. */
  pools(route: string): IdPools {
    const userIds = [...this.users.map((u) => u.id), ...[...this.extraUserIds].slice(-20)];
    const chatId = [...this.chatIds];
    const messageId = [...this.messageIds];
    const requestId = [...this.requestIds];
    const sessions = [...this.spareSessionIds];
    const id = route.startsWith('auth.')
      ? sessions
      : route.startsWith('contacts.accept') || route.startsWith('contacts.dismiss')
        ? requestId
        : userIds;
    return {
      chatId,
      messageId,
      replyTo: messageId,
      userId: userIds,
      id,
      any: [...chatId.slice(0, 20), ...messageId.slice(-20), ...userIds],
    };
  }
}
