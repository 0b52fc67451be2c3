import { contract } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import type { AppContext } from '../app-context.js';
import { createUser } from '../auth/register-user.js';
import { toSelfUser } from '../users/presenters.js';
import { createInvite } from './create-invite.js';
import { requireAdmin } from './require-admin.js';

const s = initServer();

export function adminRouter(ctx: AppContext) {
  return s.router(contract.admin, {
    createInvite: async ({ request, body }) => {
      const me = await requireAdmin(ctx, request);
      return { status: 201, body: await createInvite(ctx, me.userId, body.expiresInHours) };
    },
    createUser: async ({ request, body }) => {
      await requireAdmin(ctx, request);
      const user = await createUser(
        ctx,
        body,
        async () => ({ isAdmin: body.isAdmin }),
        async () => undefined,
        async (_tx, created) => created,
      );
      return { status: 201, body: toSelfUser(user) };
    },
  });
}
