/**
 * Preparing a run through the public API, as real clients would: register the users
 * (bounded concurrency, since the server hashes every password), then create their
 * groups and direct chats. Nothing is connected yet, so none of this shows up as events.
 */
import { randomBytes } from 'node:crypto';
import {
  authResultSchema,
  chatSchema,
  GROUP_MAX_MEMBERS,
  type CreateGroupInput,
  type RegisterInput,
  type createDirectChatSchema,
} from '@parley/contracts';
import type { z } from 'zod';
import { ApiClient, mapConcurrent } from './api.js';

export interface ChatPlan {
  kind: 'group' | 'direct';
  /** User indexes; the first creates the chat. */
  members: number[];
}

export interface Layout {
  chats: ChatPlan[];
  /** Per user: index into chats of their group, or -1. */
  groupOf: number[];
  /** Per user: index into chats of their direct chat, or -1. */
  directOf: number[];
}

/**
 * Every user is in one group (users split into groups of `groupSize`; a remainder too
 * small to chat is folded into the last group) and in one direct chat (users paired off;
 * with an odd count the last one pairs with the first). A share of 0 or 1 drops the kind
 * of chat that would never get a message.
 */
export function planChats(users: number, groupSize: number, directShare: number): Layout {
  const chats: ChatPlan[] = [];
  const groupOf = new Array<number>(users).fill(-1);
  const directOf = new Array<number>(users).fill(-1);
  if (directShare < 1) {
    for (let start = 0; start < users; start += groupSize) {
      const members = range(start, Math.min(users, start + groupSize));
      const last = chats.at(-1);
      if (members.length < 2 && last?.kind === 'group' && last.members.length < GROUP_MAX_MEMBERS) {
        last.members.push(...members);
      } else chats.push({ kind: 'group', members });
      for (const u of members) groupOf[u] = chats.length - 1;
    }
  }
  if (directShare > 0) {
    for (let a = 0; a < users; a += 2) {
      const b = a + 1 < users ? a + 1 : 0;
      if (a === b) break;
      chats.push({ kind: 'direct', members: [a, b] });
      if (directOf[a] === -1) directOf[a] = chats.length - 1;
      if (directOf[b] === -1) directOf[b] = chats.length - 1;
    }
  }
  return { chats, groupOf, directOf };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

export interface PreparedUser {
  id: string;
  username: string;
  token: string;
  /** ms since the epoch. */
  tokenExpiresAt: number;
  refreshToken: string | undefined;
}

export interface PreparedChat extends ChatPlan {
  id: string;
  /** The chat's last seq before the run sent anything (system lines): where catching up starts. */
  baseSeq: number;
}

export interface Population {
  runId: string;
  /** Every user's password (one per run), to sign in again when a token cannot be refreshed. */
  password: string;
  users: PreparedUser[];
  chats: PreparedChat[];
  layout: Layout;
  registerMs: number;
  chatsMs: number;
}

export interface PrepareOptions {
  users: number;
  groupSize: number;
  directShare: number;
  registerConcurrency: number;
  /** Chat creation is cheap; keep a modest number in flight. */
  chatConcurrency?: number;
}

export async function preparePopulation(
  api: ApiClient,
  opts: PrepareOptions,
  runId: string,
  progress: (line: string) => void,
  stop: () => boolean = () => false,
): Promise<Population> {
  // One random password per run: nobody signs in as these users afterwards.
  const password = `lt-${randomBytes(12).toString('hex')}`;
  const t0 = performance.now();
  const users = await mapConcurrent(
    Array.from({ length: opts.users }, (_, i) => i),
    opts.registerConcurrency,
    async (i) => {
      const username = `lt${runId}_${i}`;
      const body: RegisterInput = {
        username,
        email: `${username}@loadtest.invalid`,
        password,
        displayName: `Load ${runId} ${i}`,
        deviceName: 'parley-load',
        platform: 'loadtest',
        refreshTokenDelivery: 'body',
      };
      const res = await api.post('/api/auth/register', body, authResultSchema);
      return {
        id: res.user.id,
        username,
        token: res.accessToken,
        tokenExpiresAt: Date.parse(res.accessTokenExpiresAt),
        refreshToken: res.refreshToken,
      };
    },
    (done) => {
      if (done % 50 === 0 || done === opts.users) progress(`registering users ${done}/${opts.users}`);
    },
    stop,
  );
  const registerMs = performance.now() - t0;

  const layout = planChats(opts.users, opts.groupSize, opts.directShare);
  const t1 = performance.now();
  const chats = await mapConcurrent(
    layout.chats,
    opts.chatConcurrency ?? 16,
    async (plan, i) => {
      const owner = users[plan.members[0]!]!;
      if (plan.kind === 'group') {
        const body: CreateGroupInput = {
          name: `Load ${runId} group ${i}`,
          memberIds: plan.members.slice(1).map((u) => users[u]!.id),
        };
        const chat = await api.post('/api/chats/group', body, chatSchema, owner.token);
        return { ...plan, id: chat.id, baseSeq: chat.lastSeq };
      }
      const body: z.input<typeof createDirectChatSchema> = { userId: users[plan.members[1]!]!.id };
      const chat = await api.post('/api/chats/direct', body, chatSchema, owner.token);
      // With DIRECT_CHAT_POLICY=requests (the default) a chat between strangers is a request
      // limited to 3 messages until the other person accepts it; the test users accept.
      if (chat.request?.state === 'pending') {
        const other = users[plan.members[1]!]!;
        const accepted = await api.post(`/api/chats/${chat.id}/accept`, undefined, chatSchema, other.token);
        return { ...plan, id: chat.id, baseSeq: Math.max(chat.lastSeq, accepted.lastSeq) };
      }
      return { ...plan, id: chat.id, baseSeq: chat.lastSeq };
    },
    (done) => {
      if (done % 50 === 0 || done === layout.chats.length)
        progress(`creating chats ${done}/${layout.chats.length}`);
    },
    stop,
  );
  return { runId, password, users, chats, layout, registerMs, chatsMs: performance.now() - t1 };
}
