import { format, parseISO } from 'date-fns';
import { Link } from 'react-router-dom';
import { useAuthStore } from '../auth/auth-store';
import { AvailabilityDot, availabilityLabels } from '../components/AvailabilityDot';
import { ChatIcon } from '../components/ChatIcon';
import { useChatsStore } from '../messaging/chats-store';

/** The right-hand pane when no chat is open: a welcome, the profile, and where to start. */
export function HomePage() {
  const user = useAuthStore((s) => s.user);
  const loaded = useChatsStore((s) => s.loaded);
  const hasChats = useChatsStore((s) => Object.keys(s.chats).length > 0);
  if (!user) return null;
  return (
    <div className="page home-pane" data-testid="home-page">
      <h1>Welcome, {user.displayName}</h1>
      {loaded && !hasChats ? (
        <section className="card empty-state" data-testid="conversations-empty">
          <ChatIcon />
          <h2>No conversations yet</h2>
          <p className="muted">Your conversations will appear here.</p>
          <p className="muted">Start one with “New chat” or “New group”.</p>
        </section>
      ) : (
        <section className="card empty-state" data-testid="pick-a-chat">
          <ChatIcon />
          <h2>Pick a conversation</h2>
          <p className="muted">Choose a chat on the left, or start a new one.</p>
        </section>
      )}
      <section className="card" aria-labelledby="profile-summary-title">
        <div className="card__header">
          <h2 id="profile-summary-title">Your profile</h2>
          <Link to="/settings/profile" className="button button--ghost">
            Edit profile
          </Link>
        </div>
        <dl className="summary" data-testid="profile-summary">
          <dt>Display name</dt>
          <dd>{user.displayName}</dd>
          <dt>Username</dt>
          <dd>@{user.username}</dd>
          <dt>Email</dt>
          <dd>{user.email}</dd>
          <dt>Status</dt>
          <dd>{user.statusText || <span className="muted">No status set</span>}</dd>
          <dt>Availability</dt>
          <dd>
            <AvailabilityDot availability={user.availability} /> {availabilityLabels[user.availability]}
          </dd>
          <dt>Member since</dt>
          <dd>{format(parseISO(user.createdAt), 'PP')}</dd>
        </dl>
      </section>
    </div>
  );
}
