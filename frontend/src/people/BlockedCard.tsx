/** Settings: the people I blocked, each with Unblock. */
import type { PublicUser } from '@parley/contracts';
import { useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { FormMessage } from '../components/Field';
import { errorText } from '../messaging/actions';
import { useContactsStore } from './contacts-store';
import { unblockUser } from './people-actions';

export function BlockedCard() {
  const blocked = useContactsStore((s) => s.blocked);
  const loaded = useContactsStore((s) => s.loaded);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const users = useMemo(
    () => Object.values(blocked).sort((a, b) => a.displayName.localeCompare(b.displayName)),
    [blocked],
  );

  async function unblock(user: PublicUser) {
    setBusy(user.id);
    setError(null);
    try {
      await unblockUser(user);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className="card" aria-labelledby="blocked-title" data-testid="blocked-card">
      <h2 id="blocked-title">Blocked people</h2>
      <p className="muted">
        Blocked people cannot message you, ask to be your contact or see when you are online. Groups you share
        keep working.
      </p>
      {!loaded && <p className="muted">Loading…</p>}
      {loaded && users.length === 0 && (
        <p className="muted" data-testid="blocked-empty">
          You haven’t blocked anyone.
        </p>
      )}
      {users.length > 0 && (
        <ul className="people-list" data-testid="blocked-list">
          {users.map((u) => (
            <li key={u.id} className="person" data-testid="blocked-user" data-user-id={u.id}>
              <div className="person__main">
                <span className="person__name">
                  <Link to={`/users/${u.id}`}>{u.displayName}</Link>
                  <span className="muted"> @{u.username}</span>
                </span>
              </div>
              <div className="person__actions">
                <button
                  type="button"
                  className="button button--ghost button--small"
                  disabled={busy === u.id}
                  onClick={() => void unblock(u)}
                  data-testid="blocked-unblock-button"
                >
                  Unblock
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <FormMessage kind="error" testId="blocked-error">
          {error}
        </FormMessage>
      )}
    </section>
  );
}
