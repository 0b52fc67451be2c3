/** Test users made through the real API, each with a unique name. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Client } from './http.js';

export interface TestUser {
  id: string;
  username: string;
  email: string;
  password: string;
  displayName: string;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
}

export function uniqueName(prefix = 'user'): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function registerUser(
  api: Client,
  overrides: Partial<{
    username: string;
    email: string;
    password: string;
    displayName: string;
    deviceName: string;
  }> = {},
): Promise<TestUser> {
  const username = overrides.username ?? uniqueName();
  const input = {
    username,
    email: overrides.email ?? `${username}@example.test`,
    password: overrides.password ?? 'correct horse battery',
    displayName: overrides.displayName ?? `User ${username}`,
    ...(overrides.deviceName ? { deviceName: overrides.deviceName } : {}),
  };
  const res = await api.post('/api/auth/register', input);
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return {
    id: res.body.user.id,
    username: input.username,
    email: input.email,
    password: input.password,
    displayName: input.displayName,
    accessToken: res.body.accessToken,
    refreshToken: res.body.refreshToken,
    sessionId: res.body.sessionId,
  };
}

export async function logIn(api: Client, login: string, password: string, deviceName = 'Second device') {
  const res = await api.post('/api/auth/login', { login, password, deviceName, platform: 'test' });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
  return res.body as { accessToken: string; refreshToken: string; sessionId: string };
}

/** A group owned by `owner` with the others as members, through the real API. */
export async function createGroup(
  api: Client,
  owner: TestUser,
  members: TestUser[],
  name = uniqueName('group'),
) {
  const res = await api.post(
    '/api/chats/group',
    { name, memberIds: members.map((m) => m.id) },
    { token: owner.accessToken },
  );
  if (res.status !== 201) throw new Error(`create group failed: ${res.status} ${res.text}`);
  return res.body as { id: string; lastSeq: number; name: string };
}

export async function openDirectChat(api: Client, a: TestUser, b: TestUser) {
  const res = await api.post('/api/chats/direct', { userId: b.id }, { token: a.accessToken });
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`direct chat failed: ${res.status} ${res.text}`);
  return res.body as { id: string; lastSeq: number };
}

export async function sendText(
  api: Client,
  user: TestUser,
  chatId: string,
  body: string,
  extra: object = {},
) {
  const res = await api.post(
    `/api/chats/${chatId}/messages`,
    { clientMsgId: randomUUID(), body, ...extra },
    { token: user.accessToken },
  );
  if (res.status !== 201) throw new Error(`send failed: ${res.status} ${res.text}`);
  return res.body as { id: string; seq: number; chatId: string };
}

/** Several users at once (registration hashes a password; in parallel it is quicker). */
export function registerUsers(api: Client, n: number): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: n }, () => registerUser(api)));
}
