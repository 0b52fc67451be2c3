import { useEffect } from 'react';
import { RouterProvider, createBrowserRouter } from 'react-router-dom';
import { refreshAccessToken } from './api/client';
import { useAuthStore } from './auth/auth-store';
import { routes } from './routes';

const router = createBrowserRouter(routes);

/** Try the refresh cookie once at start-up so a reload keeps the user signed in. */
export function useSilentSignIn() {
  useEffect(() => {
    if (useAuthStore.getState().status === 'loading') void refreshAccessToken();
  }, []);
}

export function App() {
  useSilentSignIn();
  return <RouterProvider router={router} />;
}
