/** Who is typing in each chat. Each entry ends by itself after the event's expiresInMs. */
import { create } from 'zustand';

interface TypingState {
  /** chatId → userId → expiry time (ms since epoch). */
  byChat: Record<string, Record<string, number>>;
  start: (chatId: string, userId: string, expiresInMs: number) => void;
  stop: (chatId: string, userId: string) => void;
  clear: () => void;
}

const timers = new Map<string, ReturnType<typeof setTimeout>>();
const key = (chatId: string, userId: string) => `${chatId}:${userId}`;

export const useTypingStore = create<TypingState>()((set, get) => ({
  byChat: {},
  start: (chatId, userId, expiresInMs) => {
    const k = key(chatId, userId);
    const existing = timers.get(k);
    if (existing) clearTimeout(existing);
    timers.set(
      k,
      setTimeout(() => get().stop(chatId, userId), expiresInMs),
    );
    set((s) => ({
      byChat: { ...s.byChat, [chatId]: { ...s.byChat[chatId], [userId]: Date.now() + expiresInMs } },
    }));
  },
  stop: (chatId, userId) => {
    const k = key(chatId, userId);
    const existing = timers.get(k);
    if (existing) clearTimeout(existing);
    timers.delete(k);
    set((s) => {
      const chat = s.byChat[chatId];
      if (!chat || !(userId in chat)) return s;
      const next = { ...chat };
      delete next[userId];
      return { byChat: { ...s.byChat, [chatId]: next } };
    });
  },
  clear: () => {
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
    set({ byChat: {} });
  },
}));
