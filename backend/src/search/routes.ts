import { contract } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import type { AppContext } from '../app-context.js';
import { authenticate } from '../auth/authenticate.js';
import { toPublicUser } from '../users/presenters.js';
import { searchUsers } from '../users/search-users.js';
import { searchMessages } from './search-messages.js';

const s = initServer();

export function searchRouter(ctx: AppContext) {
  return s.router(contract.search, {
    search: async ({ request, query }) => {
      const me = await authenticate(ctx, request);
      // Timed from the query to the page (parley_search_duration_seconds), failures included.
      const done = ctx.metrics.search.startTimer({ type: query.type });
      try {
        if (query.type === 'users') {
          const page = await searchUsers(ctx, me.userId, {
            q: query.q,
            limit: query.limit,
            cursor: query.cursor,
          });
          return {
            status: 200,
            body: {
              messages: [],
              users: page.users.map(toPublicUser),
              nextCursor: page.nextCursor,
              terms: [],
              approximate: false,
            },
          };
        }
        return { status: 200, body: await searchMessages(ctx, me.userId, { ...query, type: query.type }) };
      } finally {
        done();
      }
    },
  });
}
