/** Renders the whole app (real routes, real stores) at a path, signed out. */
import { render } from '@testing-library/react';
import { RouterProvider, createMemoryRouter } from 'react-router-dom';
import { useAuthStore } from '../auth/auth-store';
import { routes } from '../routes';

export function signedOut(): void {
  useAuthStore.setState({ status: 'signedOut', user: null, accessToken: null, sessionId: null });
}

export function renderAt(path: string) {
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  render(<RouterProvider router={router} />);
  return router;
}
