/**
 * Typing indicators. Moment-only: pushed to the chat's other members who are online,
 * never stored. One typing:start per user and chat per throttle window however often the
 * client sends it; the state ends by itself after the timeout, at typing:stop, or when
 * the user sends a message.
 */
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';

interface TypingState {
  lastAnnounced: number;
  timer: NodeJS.Timeout;
}

export interface TypingTracker {
  start(userId: string, chatId: string): Promise<void>;
  stop(userId: string, chatId: string): Promise<void>;
  /** The user sent a message or went offline: end every typing state they have. */
  stopAll(userId: string, chatId?: string): Promise<void>;
  close(): void;
}

export function createTypingTracker(ctx: AppContext): TypingTracker {
  /** userId → chatId → state: a send ends its sender's typing without a scan. */
  const states = new Map<string, Map<string, TypingState>>();
  const timeoutMs = ctx.config.typingTimeoutMs;
  const throttleMs = Math.min(2_000, Math.floor(timeoutMs / 3));

  async function requireMember(userId: string, chatId: string) {
    const chat = await ctx.directory.chat(chatId);
    if (!chat?.members.has(userId)) throw new AppError('NOT_FOUND');
  }

  async function announce(userId: string, chatId: string, typing: boolean) {
    const others = (await ctx.directory.memberIds(chatId)).filter((id) => id !== userId);
    await ctx.events.toUsers(
      others,
      typing
        ? { type: 'typing:start', data: { chatId, userId, expiresInMs: timeoutMs } }
        : { type: 'typing:stop', data: { chatId, userId } },
    );
  }

  async function end(userId: string, chatId: string) {
    const mine = states.get(userId);
    const state = mine?.get(chatId);
    if (!mine || !state) return;
    clearTimeout(state.timer);
    mine.delete(chatId);
    if (mine.size === 0) states.delete(userId);
    await announce(userId, chatId, false);
  }

  return {
    async start(userId, chatId) {
      await requireMember(userId, chatId);
      const mine = states.get(userId) ?? new Map<string, TypingState>();
      states.set(userId, mine);
      const state = mine.get(chatId);
      const now = Date.now();
      const expire = () => setTimeout(() => void end(userId, chatId).catch(() => undefined), timeoutMs);
      if (state) {
        clearTimeout(state.timer);
        state.timer = expire();
        if (now - state.lastAnnounced < throttleMs) return;
        state.lastAnnounced = now;
      } else {
        mine.set(chatId, { lastAnnounced: now, timer: expire() });
      }
      await announce(userId, chatId, true);
    },
    async stop(userId, chatId) {
      await requireMember(userId, chatId);
      await end(userId, chatId);
    },
    async stopAll(userId, chatId) {
      const mine = states.get(userId);
      if (!mine) return;
      for (const c of chatId ? [chatId] : [...mine.keys()]) await end(userId, c);
    },
    close() {
      for (const mine of states.values()) for (const state of mine.values()) clearTimeout(state.timer);
      states.clear();
    },
  };
}
