import { useEffect, useState, useSyncExternalStore } from 'react';
import { Link, NavLink, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { useAuthStore } from '../auth/auth-store';
import { ConfirmHost } from '../chat/confirm';
import { AvailabilityDot } from '../components/AvailabilityDot';
import { startNotifications } from '../messaging/notifications';
import { startMessaging, stopMessaging } from '../messaging/session';
import { useContactsStore } from '../people/contacts-store';
import { useConnectionStore } from '../realtime/connection-store';
import { SearchBox } from '../search/SearchBox';

function subscribeOnline(cb: () => void) {
  window.addEventListener('online', cb);
  window.addEventListener('offline', cb);
  return () => {
    window.removeEventListener('online', cb);
    window.removeEventListener('offline', cb);
  };
}
function useBrowserOnline(): boolean {
  return useSyncExternalStore(subscribeOnline, () => navigator.onLine);
}

/** The signed-in shell: top bar with the user and navigation, page content below. */
export function AppLayout() {
  const user = useAuthStore((s) => s.user);
  const signOut = useAuthStore((s) => s.signOut);
  const connection = useConnectionStore((s) => s.state);
  // Lost after having been connected (the first connection is not news).
  const connectionLost = connection === 'reconnecting';
  const browserOnline = useBrowserOnline();
  const navigate = useNavigate();
  const { pathname } = useLocation();
  const [pending, setPending] = useState(false);
  const chatScreen = pathname === '/' || pathname.startsWith('/chats');
  const incomingContactRequests = useContactsStore(
    (s) => Object.values(s.requests).filter((r) => r.direction === 'incoming').length,
  );

  // One messaging session (chat list + WebSocket) for as long as the user is signed in here.
  useEffect(() => startMessaging(), []);
  useEffect(() => startNotifications((chatId) => navigate(`/chats/${chatId}`)), [navigate]);

  async function logOut() {
    setPending(true);
    stopMessaging();
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
          <Link
            to="/"
            className={chatScreen ? 'active' : undefined}
            aria-current={chatScreen ? 'page' : undefined}
          >
            Chats
          </Link>
          <NavLink to="/contacts" data-testid="nav-contacts">
            Contacts
            {incomingContactRequests > 0 && (
              <span
                className="nav-count"
                data-testid="nav-contacts-count"
                aria-label={`${incomingContactRequests} requests`}
              >
                {incomingContactRequests}
              </span>
            )}
          </NavLink>
          <NavLink to="/settings/profile">Profile</NavLink>
          <NavLink to="/settings/sessions">Sessions</NavLink>
        </nav>
        <SearchBox />
        <div className="topbar__user">
          {user && (
            <span className="topbar__me" data-testid="current-user">
              <AvailabilityDot availability={user.availability} offline={connectionLost} />
              <span data-testid="current-user-name">{user.displayName}</span>
            </span>
          )}
          <button type="button" className="button button--ghost" onClick={logOut} disabled={pending}>
            {pending ? 'Logging out…' : 'Log out'}
          </button>
        </div>
      </header>
      {connectionLost && (
        <div className="connection-banner" role="status" data-testid="reconnecting-banner">
          {browserOnline
            ? 'Connecting… Messages you write are sent when the connection is back.'
            : 'Offline. Messages you write are sent when the network is back.'}
        </div>
      )}
      <main className={`app-main${chatScreen ? ' app-main--chat' : ''}`}>
        <Outlet />
      </main>
      <ConfirmHost />
    </div>
  );
}
