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
  // The result ↑/↓ are on; Enter picks it.
  const [active, setActive] = useState(0);
  const listId = useId();

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
  const current = Math.min(active, Math.max(0, shown.length - 1));
  const onKeyDown = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if (shown.length === 0) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      setActive((current + step + shown.length) % shown.length);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const picked = shown[current];
      if (picked) onPick(picked);
    }
  };
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
        onChange={(e) => {
          setQ(e.target.value);
          setActive(0);
        }}
        onKeyDown={onKeyDown}
        role="combobox"
        aria-expanded={shown.length > 0}
        aria-controls={listId}
        aria-activedescendant={shown[current] ? `${listId}-${shown[current].id}` : undefined}
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
        <ul className="user-search__results" id={listId} role="listbox" data-testid="user-search-results">
          {shown.map((u, index) => (
            <li key={u.id} id={`${listId}-${u.id}`} role="option" aria-selected={index === current}>
              <button
                type="button"
                tabIndex={-1}
                className={`user-row user-row--button${index === current ? ' user-row--active' : ''}`}
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
