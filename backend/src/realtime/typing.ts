/**
 * Typing indicators. Moment-only: pushed to the chat's other members who are online,
 * never stored. One typing:start per user and chat per throttle window however often the
 * client sends it; the state ends by itself after the timeout, at typing:stop, or when
 * the user sends a message.
 *
 * Typing is an event in the chat like any write, so the chat's rules guard it
 * (chats/chat-rules.ts): nobody hears typing from someone they blocked or who blocked
 * them, from a requester past the request's limit or held off after a rejection, or from a
 * non-member. Every typing:start frame is checked (also within the throttle window), and a
 * state that ends by itself is announced only if the rules still allow it.
 */
import type { AppContext } from '../app-context.js';
import { assertMayWrite, mayWrite } from '../chats/chat-rules.js';

interface TypingState {
  lastAnnounced: number;
  timer: NodeJS.Timeout;
}

export interface TypingTracker {
  start(userId: string, chatId: string): Promise<void>;
  stop(userId: string, chatId: string): Promise<void>;
  /**
   * The user sent a message (`chatId`: the send was just allowed, so is the stop) or went
   * offline: end every typing state they have.
   */
  stopAll(userId: string, chatId?: string): Promise<void>;
  close(): void;
}

export function createTypingTracker(ctx: AppContext): TypingTracker {
  /** userId → chatId → state: a send ends its sender's typing without a scan. */
  const states = new Map<string, Map<string, TypingState>>();
  const timeoutMs = ctx.config.typingTimeoutMs;
  const throttleMs = Math.min(2_000, Math.floor(timeoutMs / 3));

  async function announce(userId: string, chatId: string, typing: boolean) {
    const others = (await ctx.directory.memberIds(chatId)).filter((id) => id !== userId);
    await ctx.events.toUsers(
      others,
      typing
        ? { type: 'typing:start', data: { chatId, userId, expiresInMs: timeoutMs } }
        : { type: 'typing:stop', data: { chatId, userId } },
    );
  }

  /** Ends the state; announces it when `allowed` says the stop may reach the others. */
  async function end(userId: string, chatId: string, allowed: () => Promise<boolean>) {
    const mine = states.get(userId);
    const state = mine?.get(chatId);
    if (!mine || !state) return;
    clearTimeout(state.timer);
    mine.delete(chatId);
    if (mine.size === 0) states.delete(userId);
    if (await allowed()) await announce(userId, chatId, false);
  }

  const stillAllowed = (userId: string, chatId: string) => () =>
    mayWrite(ctx.db, { userId, chatId, action: 'typing-stop' });

  return {
    async start(userId, chatId) {
      await assertMayWrite(ctx.db, { userId, chatId, action: 'typing-start' });
      // From here on synchronous up to the announcement: frames checked together are throttled together.
      const mine = states.get(userId) ?? new Map<string, TypingState>();
      states.set(userId, mine);
      const state = mine.get(chatId);
      const now = Date.now();
      const expire = () =>
        setTimeout(
          () => void end(userId, chatId, stillAllowed(userId, chatId)).catch(() => undefined),
          timeoutMs,
        );
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
      try {
        await assertMayWrite(ctx.db, { userId, chatId, action: 'typing-stop' });
      } catch (err) {
        // Refused (blocked since, removed): the state ends unheard.
        await end(userId, chatId, async () => false);
        throw err;
      }
      await end(userId, chatId, async () => true);
    },
    async stopAll(userId, chatId) {
      const mine = states.get(userId);
      if (!mine) return;
      if (chatId) return end(userId, chatId, async () => true);
      for (const c of [...mine.keys()]) await end(userId, c, stillAllowed(userId, c));
    },
    close() {
      for (const mine of states.values()) for (const state of mine.values()) clearTimeout(state.timer);
      states.clear();
    },
  };
}
