import { ChatIcon } from '../components/ChatIcon';
import { format, parseISO } from 'date-fns';
import { Link } from 'react-router-dom';
import { useAuthStore } from '../auth/auth-store';
import { AvailabilityDot, availabilityLabels } from '../components/AvailabilityDot';

export function HomePage() {
  const user = useAuthStore((s) => s.user);
  if (!user) return null;
  return (
    <div className="page" data-testid="home-page">
      <h1>Welcome, {user.displayName}</h1>
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
      <section className="card empty-state" data-testid="conversations-empty">
        <ChatIcon />
        <h2>No conversations yet</h2>
        <p className="muted">Your conversations will appear here.</p>
      </section>
    </div>
  );
}
