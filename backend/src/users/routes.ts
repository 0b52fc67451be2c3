import { contract } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import type { AppContext } from '../app-context.js';
import { authenticate } from '../auth/authenticate.js';
import { changePassword } from './change-password.js';
import { getUser } from './get-user.js';
import { toPublicUser, toSelfUser } from './presenters.js';
import { searchUsers } from './search-users.js';
import { updateProfile } from './update-profile.js';

const s = initServer();

export function usersRouter(ctx: AppContext) {
  return s.router(contract.users, {
    getMe: async ({ request }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: toSelfUser(await getUser(ctx, me.userId)) };
    },
    updateMe: async ({ request, body }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: toSelfUser(await updateProfile(ctx, me.userId, body)) };
    },
    changePassword: async ({ request, body }) => {
      const me = await authenticate(ctx, request);
      await changePassword(ctx, me, body.currentPassword, body.newPassword);
      return { status: 204, body: undefined };
    },
    search: async ({ request, query }) => {
      const me = await authenticate(ctx, request);
      const page = await searchUsers(ctx, me.userId, query);
      return { status: 200, body: { users: page.users.map(toPublicUser), nextCursor: page.nextCursor } };
    },
    getUser: async ({ request, params }) => {
      await authenticate(ctx, request);
      return { status: 200, body: toPublicUser(await getUser(ctx, params.id)) };
    },
  });
}
