/**
 * What the user does to a whole chat: their own settings for it (archive, mute, which
 * messages notify), disappearing messages, and answering a chat request. Each result is
 * applied to the store at once; the events that follow change nothing.
 */
import type { Chat, UpdatePreferencesInput } from '@parley/contracts';
import { api } from '../api/client';
import { ActionError, refused } from './actions';
import { forgetChat } from './apply-event';
import { useChatsStore, withInfo } from './chats-store';

export async function setChatPreferences(chatId: string, changes: UpdatePreferencesInput): Promise<void> {
  const res = await api.chats.setPreferences({ params: { chatId }, body: changes });
  if (res.status !== 200) refused(res.status, res.body);
  const preferences = res.body;
  useChatsStore.getState().update(chatId, (c) => ({ ...c, preferences }));
}

/** Mute choices: an hour, 8 hours, a week (from now), or for good. */
export const MUTE_CHOICES = [
  { label: 'For 1 hour', key: '1h', ms: 3_600_000 },
  { label: 'For 8 hours', key: '8h', ms: 8 * 3_600_000 },
  { label: 'For 1 week', key: '1w', ms: 7 * 86_400_000 },
  { label: 'Forever', key: 'forever', ms: null },
] as const;

export function muteUntil(ms: number | null, now = Date.now()): string {
  return ms === null ? 'forever' : new Date(now + ms).toISOString();
}

/** Disappearing messages: seconds (one of MESSAGE_TTL_CHOICES) or null for off. */
export async function setMessageTtl(chatId: string, messageTtlSeconds: number | null): Promise<void> {
  const res = await api.chats.updateSettings({ params: { chatId }, body: { messageTtlSeconds } });
  if (res.status !== 200) refused(res.status, res.body);
  const chat = res.body;
  useChatsStore.getState().update(chatId, (c) => withInfo(c, chat));
}

export async function acceptChatRequest(chatId: string): Promise<Chat> {
  const res = await api.chats.acceptRequest({ params: { chatId } });
  if (res.status !== 200) refused(res.status, res.body);
  const chat = res.body;
  // The answer is my whole view of the chat; my read position and the counters never go
  // back (a read may have been stored while the answer was on its way).
  useChatsStore.getState().upsert(chat);
  return chat;
}

/** Reject: the chat leaves my lists; the requester may not write or ask again for a day. */
export async function rejectChatRequest(chatId: string): Promise<void> {
  const res = await api.chats.rejectRequest({ params: { chatId } });
  if (res.status !== 204) refused(res.status, res.body);
  forgetChat(chatId);
}

/** Open (or create) the direct chat with someone: it goes into the store and its id comes back. */
export async function openDirectChat(userId: string): Promise<Chat> {
  const res = await api.chats.createDirect({ body: { userId } });
  if (res.status !== 200 && res.status !== 201) {
    const reply: { status: number; body: unknown } = res;
    refused(reply.status, reply.body);
  }
  useChatsStore.getState().upsert(res.body);
  return res.body;
}

export { ActionError };
