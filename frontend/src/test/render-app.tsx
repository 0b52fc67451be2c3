/** Renders the whole app (real routes, real stores) at a path, signed out. */
import { render } from '@testing-library/react';
import { RouterProvider, createMemoryRouter } from 'react-router-dom';
import { VirtuosoMockContext } from 'react-virtuoso';
import { useAuthStore } from '../auth/auth-store';
import { routes } from '../routes';

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
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  render(
    <VirtuosoMockContext.Provider value={{ viewportHeight: viewportPx, itemHeight: ROW_PX }}>
      <RouterProvider router={router} />
    </VirtuosoMockContext.Provider>,
  );
  return router;
}
