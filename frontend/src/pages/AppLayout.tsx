import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { Link, NavLink, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { useAuthStore } from '../auth/auth-store';
import { ConfirmHost } from '../chat/confirm';
import { MenuIcon } from '../chat/Icons';
import { useDismiss } from '../chat/use-dismiss';
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

/**
 * The signed-in shell: top bar with the user and navigation, page content below. On a
 * narrow screen the navigation and Log out fold into a menu button beside the search.
 */
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
  const [navOpen, setNavOpen] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);
  const closeNav = useCallback(() => {
    if (!navOpen) return;
    setNavOpen(false);
    // Focus was in the panel that is going away: back to the button that opened it.
    if (document.getElementById('topbar-menu')?.contains(document.activeElement)) menuButton.current?.focus();
  }, [navOpen]);
  const headerRef = useDismiss<HTMLElement>(navOpen, closeNav);
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
      <header className={`topbar${navOpen ? ' topbar--nav-open' : ''}`} ref={headerRef}>
        <Link to="/" className="topbar__brand" onClick={closeNav}>
          Parley
        </Link>
        <SearchBox />
        <button
          type="button"
          ref={menuButton}
          className="icon-button topbar__menu-button"
          aria-label="Menu"
          aria-expanded={navOpen}
          aria-controls="topbar-menu"
          onClick={() => setNavOpen(!navOpen)}
          data-testid="nav-menu-button"
        >
          <MenuIcon />
          {incomingContactRequests > 0 && <span className="topbar__menu-dot" aria-hidden="true" />}
        </button>
        {/* Laid out in the bar on a wide screen; the menu button's panel on a narrow one. */}
        <div className="topbar__menu" id="topbar-menu" data-testid="nav-menu">
          <nav className="topbar__nav" aria-label="Main">
            <Link
              to="/"
              className={chatScreen ? 'active' : undefined}
              aria-current={chatScreen ? 'page' : undefined}
              onClick={closeNav}
            >
              Chats
            </Link>
            <NavLink to="/contacts" data-testid="nav-contacts" onClick={closeNav}>
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
            <NavLink to="/settings/profile" onClick={closeNav}>
              Profile
            </NavLink>
            <NavLink to="/settings/sessions" onClick={closeNav}>
              Sessions
            </NavLink>
          </nav>
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
