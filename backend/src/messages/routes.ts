import { contract } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import type { AppContext } from '../app-context.js';
import { authenticate } from '../auth/authenticate.js';
import { deleteMessage } from './delete-message.js';
import { editMessage } from './edit-message.js';
import { listChanges } from './list-changes.js';
import { listMessages } from './list-messages.js';
import { markRead } from './mark-read.js';
import { setReaction } from './react-to-message.js';
import { sendMessage } from './send-message.js';

const s = initServer();

export function messagesRouter(ctx: AppContext) {
  return s.router(contract.messages, {
    list: async ({ request, params, query }) => {
      const me = await authenticate(ctx, request);
      const page = await listMessages(ctx, me.userId, params.chatId, query, (seq, senders) =>
        ctx.deliveries.record(params.chatId, me.userId, seq, senders),
      );
      return { status: 200, body: page };
    },
    send: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      const { message, duplicate } = await sendMessage(ctx, me.userId, params.chatId, body);
      return { status: duplicate ? 200 : 201, body: message };
    },
    changes: async ({ request, params, query }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await listChanges(ctx, me.userId, params.chatId, query) };
    },
    markRead: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await markRead(ctx, me.userId, params.chatId, body.upToSeq) };
    },
    edit: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await editMessage(ctx, me.userId, params.messageId, body.body) };
    },
    remove: async ({ request, params, query }) => {
      const me = await authenticate(ctx, request);
      await deleteMessage(ctx, me.userId, params.messageId, query.scope);
      return { status: 204, body: undefined };
    },
    addReaction: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return {
        status: 200,
        body: { reactions: await setReaction(ctx, me.userId, params.messageId, body.emoji, true) },
      };
    },
    removeReaction: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      return {
        status: 200,
        body: { reactions: await setReaction(ctx, me.userId, params.messageId, params.emoji, false) },
      };
    },
  });
}
