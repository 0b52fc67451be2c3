import type { PublicUser } from '@parley/contracts';
import { useEffect, useId, useState } from 'react';
import { api } from '../api/client';
import { networkProblem, toProblem } from '../api/errors';
import { PresenceDot } from './PresenceDot';

/** Search people by username or display name; picking one calls onPick. */
export function UserSearch({
  onPick,
  excludeIds = [],
  label = 'Find people',
  autoFocus = false,
}: {
  onPick: (user: PublicUser) => void;
  excludeIds?: string[];
  label?: string;
  autoFocus?: boolean;
}) {
  const inputId = useId();
  const [q, setQ] = useState('');
  const [results, setResults] = useState<PublicUser[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [searching, setSearching] = useState(false);

  useEffect(() => {
    const query = q.trim();
    if (!query) return;
    let cancelled = false;
    const timer = setTimeout(async () => {
      setSearching(true);
      try {
        const res = await api.users.search({ query: { q: query, limit: 20 } });
        if (cancelled) return;
        if (res.status === 200) {
          setResults(res.body.users);
          setError(null);
        } else setError(toProblem(res.status, res.body).message);
      } catch {
        if (!cancelled) setError(networkProblem().message);
      } finally {
        if (!cancelled) setSearching(false);
      }
    }, 250);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [q]);

  const shown = q.trim() ? results.filter((u) => !excludeIds.includes(u.id)) : [];
  return (
    <div className="user-search">
      <label htmlFor={inputId} className="user-search__label">
        {label}
      </label>
      <input
        id={inputId}
        type="search"
        className="input"
        placeholder="Name or username"
        value={q}
        maxLength={64}
        autoComplete="off"
        autoFocus={autoFocus}
        onChange={(e) => setQ(e.target.value)}
        data-testid="user-search-input"
      />
      {error && (
        <p className="field__error" role="alert">
          {error}
        </p>
      )}
      {q.trim() && !searching && !error && shown.length === 0 && (
        <p className="muted user-search__empty" data-testid="user-search-empty">
          No one found.
        </p>
      )}
      {shown.length > 0 && (
        <ul className="user-search__results" data-testid="user-search-results">
          {shown.map((u) => (
            <li key={u.id}>
              <button
                type="button"
                className="user-row user-row--button"
                onClick={() => onPick(u)}
                data-testid="user-search-result"
                data-user-id={u.id}
              >
                <PresenceDot userId={u.id} />
                <span className="user-row__name">{u.displayName}</span>
                <span className="muted">@{u.username}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
