import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { FullPageSpinner } from '../components/Spinner';
import { useAuthStore } from './auth-store';

/** Where the sign-in pages send the user back to, carried in router state. */
export interface ReturnToState {
  from?: { pathname: string; search?: string; hash?: string };
}

export function returnPath(state: unknown): string {
  const from = (state as ReturnToState | null)?.from;
  if (!from?.pathname || from.pathname === '/login' || from.pathname === '/register') return '/';
  return `${from.pathname}${from.search ?? ''}${from.hash ?? ''}`;
}

/** Protected routes: wait for the silent refresh, then render or go to /login (and come back). */
export function RequireAuth({ children }: { children: ReactNode }) {
  const status = useAuthStore((s) => s.status);
  const location = useLocation();
  if (status === 'loading') return <FullPageSpinner />;
  if (status === 'signedOut') {
    const state: ReturnToState = {
      from: { pathname: location.pathname, search: location.search, hash: location.hash },
    };
    return <Navigate to="/login" replace state={state} />;
  }
  return <>{children}</>;
}

/** Sign-in pages: nothing to do there once signed in. */
export function RedirectIfSignedIn({ children }: { children: ReactNode }) {
  const status = useAuthStore((s) => s.status);
  const location = useLocation();
  if (status === 'loading') return <FullPageSpinner />;
  if (status === 'signedIn') return <Navigate to={returnPath(location.state)} replace />;
  return <>{children}</>;
}
