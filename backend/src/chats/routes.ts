import { contract } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import type { AppContext } from '../app-context.js';
import { authenticate } from '../auth/authenticate.js';
import { addMembers } from './add-members.js';
import { blockersOf } from '../contacts/blocks.js';
import { requireMembership } from './access.js';
import { loadChatView, loadChatViews, memberInclude, presentMembers } from './chat-views.js';
import { acceptChatRequest, rejectChatRequest } from './chat-requests.js';
import { createDirectChat } from './create-direct-chat.js';
import { createGroup } from './create-group.js';
import { deleteChat } from './delete-chat.js';
import { leaveChat, removeMember } from './remove-member.js';
import { setMemberRole, transferOwnership } from './set-member-role.js';
import { setPreferences } from './set-preferences.js';
import { updateChatSettings } from './update-settings.js';
import { updateChat } from './update-chat.js';

const s = initServer();

export function chatsRouter(ctx: AppContext) {
  return s.router(contract.chats, {
    list: async ({ request, query }) => {
      const me = await authenticate(ctx, request);
      return {
        status: 200,
        body: await loadChatViews(ctx, me.userId, { ...query, incomingRequests: false }),
      };
    },
    listRequests: async ({ request }) => {
      const me = await authenticate(ctx, request);
      const { chats } = await loadChatViews(ctx, me.userId, { incomingRequests: true, limit: 100 });
      return { status: 200, body: { chats } };
    },
    acceptRequest: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await acceptChatRequest(ctx, me.userId, params.chatId) };
    },
    rejectRequest: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await rejectChatRequest(ctx, me.userId, params.chatId);
      return { status: 204, body: undefined };
    },
    createDirect: async ({ request, body }) => {
      const me = await authenticate(ctx, request);
      const { chat, created } = await createDirectChat(ctx, me.userId, body.userId);
      return { status: created ? 201 : 200, body: chat };
    },
    createGroup: async ({ request, body }) => {
      const me = await authenticate(ctx, request);
      return { status: 201, body: await createGroup(ctx, me.userId, body) };
    },
    get: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await loadChatView(ctx, me.userId, params.chatId) };
    },
    update: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await updateChat(ctx, me.userId, params.chatId, body) };
    },
    remove: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await deleteChat(ctx, me.userId, params.chatId);
      return { status: 204, body: undefined };
    },
    leave: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await leaveChat(ctx, me.userId, params.chatId);
      return { status: 204, body: undefined };
    },
    listMembers: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await requireMembership(ctx.db.prisma, params.chatId, me.userId);
      const rows = await ctx.db.prisma.chatMember.findMany({
        where: { chatId: params.chatId },
        include: memberInclude,
        orderBy: [{ joinedAt: 'asc' }, { userId: 'asc' }],
      });
      const members = await presentMembers(ctx, rows);
      // Someone who blocked the caller shows no presence to them.
      const hidden = await blockersOf(
        ctx.db.prisma,
        me.userId,
        rows.map((r) => r.userId),
      );
      return {
        status: 200,
        body: {
          members: members.map((m) =>
            hidden.has(m.user.id) ? { ...m, online: false, lastSeenAt: null } : m,
          ),
        },
      };
    },
    addMembers: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return {
        status: 200,
        body: { members: await addMembers(ctx, me.userId, params.chatId, body.userIds) },
      };
    },
    removeMember: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await removeMember(ctx, me.userId, params.chatId, params.userId);
      return { status: 204, body: undefined };
    },
    setRole: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return {
        status: 200,
        body: await setMemberRole(ctx, me.userId, params.chatId, params.userId, body.role),
      };
    },
    updateSettings: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await updateChatSettings(ctx, me.userId, params.chatId, body) };
    },
    setPreferences: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await setPreferences(ctx, me.userId, params.chatId, body) };
    },
    transferOwnership: async ({ request, params, body }) => {
      const me = await authenticate(ctx, request);
      await transferOwnership(ctx, me.userId, params.chatId, body.userId);
      return { status: 204, body: undefined };
    },
  });
}
