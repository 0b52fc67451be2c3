/** Renders the whole app (real routes, real stores) at a path, signed out. */
import { render } from '@testing-library/react';
import { type RouteObject, RouterProvider, createMemoryRouter } from 'react-router-dom';
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

export function renderAt(path: string) {
  const router = createMemoryRouter(appRoutes, { initialEntries: [path] });
  render(<RouterProvider router={router} />);
  return router;
}
