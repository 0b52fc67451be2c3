import { contract } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import type { AppContext } from '../app-context.js';
import { authenticate } from '../auth/authenticate.js';
import { blockUser, listBlocked, unblockUser } from './blocks.js';
import { acceptRequest, dismissRequest, listRequests, requestContact } from './contact-requests.js';
import { presentContacts, removeContact } from './contacts.js';

const s = initServer();

export function contactsRouter(ctx: AppContext) {
  return s.router(contract.contacts, {
    list: async ({ request }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: { contacts: await presentContacts(ctx, me.userId) } };
    },
    listRequests: async ({ request }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await listRequests(ctx, me.userId) };
    },
    request: async ({ request, body }) => {
      const me = await authenticate(ctx, request);
      const { created, ...result } = await requestContact(ctx, me.userId, body.userId);
      return { status: created ? 201 : 200, body: result };
    },
    accept: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: await acceptRequest(ctx, me.userId, params.id) };
    },
    dismiss: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await dismissRequest(ctx, me.userId, params.id);
      return { status: 204, body: undefined };
    },
    remove: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await removeContact(ctx, me.userId, params.id);
      return { status: 204, body: undefined };
    },
  });
}

export function blocksRouter(ctx: AppContext) {
  return s.router(contract.blocks, {
    list: async ({ request }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: { users: await listBlocked(ctx, me.userId) } };
    },
    block: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await blockUser(ctx, me.userId, params.id);
      return { status: 204, body: undefined };
    },
    unblock: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await unblockUser(ctx, me.userId, params.id);
      return { status: 204, body: undefined };
    },
  });
}
