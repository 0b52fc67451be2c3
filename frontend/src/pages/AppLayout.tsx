import { useState } from 'react';
import { Link, NavLink, Outlet, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { useAuthStore } from '../auth/auth-store';
import { AvailabilityDot } from '../components/AvailabilityDot';

/** The signed-in shell: top bar with the user and navigation, page content below. */
export function AppLayout() {
  const user = useAuthStore((s) => s.user);
  const signOut = useAuthStore((s) => s.signOut);
  const navigate = useNavigate();
  const [pending, setPending] = useState(false);

  async function logOut() {
    setPending(true);
    try {
      await api.auth.logout();
    } catch {
      // Offline: the session expires on its own; forget it here regardless.
    }
    navigate('/login', { replace: true });
    signOut();
  }

  return (
    <div className="app-shell">
      <header className="topbar">
        <Link to="/" className="topbar__brand">
          Parley
        </Link>
        <nav className="topbar__nav" aria-label="Main">
          <NavLink to="/settings/profile">Profile</NavLink>
          <NavLink to="/settings/sessions">Sessions</NavLink>
        </nav>
        <div className="topbar__user">
          {user && (
            <span className="topbar__me" data-testid="current-user">
              <AvailabilityDot availability={user.availability} />
              <span data-testid="current-user-name">{user.displayName}</span>
            </span>
          )}
          <button type="button" className="button button--ghost" onClick={logOut} disabled={pending}>
            {pending ? 'Logging out…' : 'Log out'}
          </button>
        </div>
      </header>
      <main className="app-main">
        <Outlet />
      </main>
    </div>
  );
}
