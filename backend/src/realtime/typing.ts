/**
 * Typing indicators. Moment-only: pushed to the chat's other members who are online,
 * never stored. One typing:start per user and chat per throttle window however often the
 * client sends it; the state ends by itself after the timeout, at typing:stop, or when
 * the user sends a message.
 */
import type { AppContext } from '../app-context.js';
import { memberIds, requireMembership } from '../chats/access.js';

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
  const states = new Map<string, TypingState>();
  const timeoutMs = ctx.config.typingTimeoutMs;
  const throttleMs = Math.min(2_000, Math.floor(timeoutMs / 3));
  const key = (userId: string, chatId: string) => `${chatId}:${userId}`;

  async function announce(userId: string, chatId: string, typing: boolean) {
    const others = (await memberIds(ctx.db.prisma, chatId)).filter((id) => id !== userId);
    await ctx.events.toUsers(
      others,
      typing
        ? { type: 'typing:start', data: { chatId, userId, expiresInMs: timeoutMs } }
        : { type: 'typing:stop', data: { chatId, userId } },
    );
  }

  async function end(userId: string, chatId: string) {
    const k = key(userId, chatId);
    const state = states.get(k);
    if (!state) return;
    clearTimeout(state.timer);
    states.delete(k);
    await announce(userId, chatId, false);
  }

  return {
    async start(userId, chatId) {
      await requireMembership(ctx.db.prisma, chatId, userId);
      const k = key(userId, chatId);
      const state = states.get(k);
      const now = Date.now();
      const expire = () => setTimeout(() => void end(userId, chatId).catch(() => undefined), timeoutMs);
      if (state) {
        clearTimeout(state.timer);
        state.timer = expire();
        if (now - state.lastAnnounced < throttleMs) return;
        state.lastAnnounced = now;
      } else {
        states.set(k, { lastAnnounced: now, timer: expire() });
      }
      await announce(userId, chatId, true);
    },
    async stop(userId, chatId) {
      await requireMembership(ctx.db.prisma, chatId, userId);
      await end(userId, chatId);
    },
    async stopAll(userId, chatId) {
      for (const k of [...states.keys()]) {
        const [c, u] = k.split(':');
        if (u === userId && (!chatId || c === chatId)) await end(userId, c!);
      }
    },
    close() {
      for (const state of states.values()) clearTimeout(state.timer);
      states.clear();
    },
  };
}
