/** Renders the whole app (real routes, real stores) at a path, signed out. */
import { render } from '@testing-library/react';
import { type RouteObject, RouterProvider, createMemoryRouter } from 'react-router-dom';
import { VirtuosoMockContext } from 'react-virtuoso';
import { useAuthStore } from '../auth/auth-store';
import { routes } from '../routes';

/**
 * The routes with every lazy chunk already loaded, so a test's router renders at once (as
 * the app does once a chunk is there) instead of a tick later.
 */
async function loaded(list: RouteObject[]): Promise<RouteObject[]> {
  return Promise.all(
    list.map(async (route) => {
      const { lazy, children, ...rest } = route;
      const extra = typeof lazy === 'function' ? await lazy() : {};
      return { ...rest, ...extra, ...(children ? { children: await loaded(children) } : {}) } as RouteObject;
    }),
  );
}
const appRoutes = await loaded(routes);

export function signedOut(): void {
  useAuthStore.setState({ status: 'signedOut', user: null, accessToken: null, sessionId: null });
}

/** Every row's height and the viewport's for the virtualised lists (jsdom lays nothing out). */
export const ROW_PX = 40;
export const TALL_VIEWPORT_PX = 100 * ROW_PX;

/**
 * jsdom measures every element as 0 px, so a virtualised list would show no row: the lists
 * get fixed sizes instead (react-virtuoso's VirtuosoMockContext). The default viewport
 * shows a hundred rows; a test about what is in view passes a smaller one.
 */
export function renderAt(path: string, { viewportPx = TALL_VIEWPORT_PX }: { viewportPx?: number } = {}) {
  const router = createMemoryRouter(appRoutes, { initialEntries: [path] });
  render(
    <VirtuosoMockContext.Provider value={{ viewportHeight: viewportPx, itemHeight: ROW_PX }}>
      <RouterProvider router={router} />
    </VirtuosoMockContext.Provider>,
  );
  return router;
}
