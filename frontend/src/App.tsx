import { SESSION_HINT_COOKIE } from '@parley/contracts';
import { useEffect } from 'react';
import { RouterProvider, createBrowserRouter } from 'react-router-dom';
import { refreshAccessToken } from './api/client';
import { useAuthStore } from './auth/auth-store';
import { routes } from './routes';

const router = createBrowserRouter(routes);

/** Whether this browser holds a session (the server's hint cookie beside the HttpOnly one). */
export function hasSessionHint(): boolean {
  return document.cookie.split(';').some((c) => c.trim().startsWith(`${SESSION_HINT_COOKIE}=`));
}

/** Set once this browser has run a version that knows the hint (sessions from before have none). */
const HINT_KNOWN_KEY = 'parley.sessionHintKnown';

function firstLoadSinceHint(): boolean {
  try {
    if (localStorage.getItem(HINT_KNOWN_KEY)) return false;
    localStorage.setItem(HINT_KNOWN_KEY, '1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Try the refresh cookie once at start-up so a reload keeps the user signed in. Without a
 * session there is nothing to try: signed out at once, without a request (and so without a
 * 401 in the console) — except on a browser's first load of this version, whose session
 * (if any) was made before the hint existed.
 */
export function useSilentSignIn() {
  useEffect(() => {
    if (useAuthStore.getState().status !== 'loading') return;
    const legacy = firstLoadSinceHint();
    if (hasSessionHint() || legacy) void refreshAccessToken();
    else useAuthStore.getState().signOut();
  }, []);
}

export function App() {
  useSilentSignIn();
  return <RouterProvider router={router} />;
}
