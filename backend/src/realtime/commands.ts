/**
 * What each WebSocket command does. The same services as the REST routes: a command is
 * another way in, never other rules. Identity comes from the socket's authentication,
 * never from the frame.
 */
import type { commandSchemas, CommandType } from '@parley/contracts';
import type { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { authenticateToken } from '../auth/authenticate.js';
import { AppError, rateLimited } from '../infra/errors.js';
import { deleteMessage } from '../messages/delete-message.js';
import { editMessage } from '../messages/edit-message.js';
import { markRead } from '../messages/mark-read.js';
import { setReaction } from '../messages/react-to-message.js';
import { sendMessage } from '../messages/send-message.js';
import type { Connection } from './connection.js';

type Handlers = {
  [T in CommandType]: (conn: Connection, data: z.output<(typeof commandSchemas)[T]>) => Promise<unknown>;
};

/**
 * `auth` only sets the socket's identity: the gateway starts delivering to it once the
 * ack has gone out, so no event ever arrives before the client knows its position.
 */
export function createCommandHandlers(ctx: AppContext): Handlers {
  const me = (conn: Connection) => conn.userId!;
  return {
    async auth(conn, { token }) {
      // Opening sockets has an allowance too (each costs the session check, the inbox head
      // and a presence change): a client reconnecting in a loop is held to it.
      const identity = await authenticateToken(ctx, token, async ({ userId }) => {
        if (conn.userId) return;
        const allowance = await ctx.budgets.connect(userId);
        if (!allowance.ok)
          throw rateLimited(allowance.retryAfterMs, 'Too many connections opened. Wait a moment.');
      });
      if (conn.userId) {
        // A fresh token on a live socket (access tokens are short-lived): same session only.
        if (identity.userId !== conn.userId || identity.sessionId !== conn.sessionId) {
          throw new AppError('FORBIDDEN', 'This socket belongs to another session.');
        }
        return { userId: conn.userId, sessionId: conn.sessionId, position: conn.cursor };
      }
      conn.userId = identity.userId;
      conn.sessionId = identity.sessionId;
      conn.cursor = await ctx.inbox.head(identity.userId);
      return { userId: identity.userId, sessionId: identity.sessionId, position: conn.cursor };
    },
    async 'sync:resume'(conn, { position }) {
      const { resumed, replayed } = await conn.resume(position);
      return { resumed, replayed, position: conn.cursor };
    },
    // No database, no wait: the batches it covers go to the delivery recorder (which writes
    // them coalesced). Answered only when sent with an id.
    async 'sync:ack'(conn, { position }) {
      conn.acknowledge(position);
      return { position };
    },
    async 'message:send'(conn, { chatId, ...input }) {
      return sendMessage(ctx, me(conn), chatId, input);
    },
    async 'message:edit'(conn, { messageId, body }) {
      return { message: await editMessage(ctx, me(conn), messageId, body) };
    },
    async 'message:delete'(conn, { messageId, scope }) {
      await deleteMessage(ctx, me(conn), messageId, scope);
      return { messageId };
    },
    async 'reaction:add'(conn, { messageId, emoji }) {
      await setReaction(ctx, me(conn), messageId, emoji, true);
      return { messageId };
    },
    async 'reaction:remove'(conn, { messageId, emoji }) {
      await setReaction(ctx, me(conn), messageId, emoji, false);
      return { messageId };
    },
    async 'typing:start'(conn, { chatId }) {
      await ctx.typing.start(me(conn), chatId);
      return { chatId };
    },
    async 'typing:stop'(conn, { chatId }) {
      await ctx.typing.stop(me(conn), chatId);
      return { chatId };
    },
    async 'chat:read'(conn, { chatId, upToSeq }) {
      return markRead(ctx, me(conn), chatId, upToSeq);
    },
  };
}
