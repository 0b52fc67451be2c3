import type { DeviceSession } from '@parley/contracts';
import { format, formatDistanceToNow, parseISO } from 'date-fns';
import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import { networkProblem, toProblem } from '../api/errors';

export function SessionsPage() {
  const [sessions, setSessions] = useState<DeviceSession[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const res = await api.auth.listSessions();
      if (res.status === 200) {
        setSessions(res.body.sessions);
        setError(null);
      } else setError(toProblem(res.status, res.body).message);
    } catch {
      setError(networkProblem().message);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function revoke(id: string) {
    setRevoking(id);
    try {
      const res = await api.auth.revokeSession({ params: { id } });
      if (res.status === 204 || res.status === 404) {
        setSessions((list) => list?.filter((s) => s.id !== id) ?? null);
      } else setError(toProblem(res.status, res.body).message);
    } catch {
      setError(networkProblem().message);
    } finally {
      setRevoking(null);
    }
  }

  // This device first, then the most recently active.
  const sorted = sessions
    ? [...sessions].sort(
        (a, b) => Number(b.current) - Number(a.current) || b.lastActiveAt.localeCompare(a.lastActiveAt),
      )
    : null;

  return (
    <div className="page">
      <h1>Sessions</h1>
      <p className="muted">Devices signed in to your account. Sign out any you don’t recognise.</p>
      {error && (
        <p className="form-message form-message--error" role="alert">
          {error}
        </p>
      )}
      {!sorted && !error && <p className="muted">Loading sessions…</p>}
      {sorted && (
        <ul className="session-list" data-testid="session-list">
          {sorted.map((s) => (
            <li key={s.id} className="card session" data-testid="session-item" data-current={s.current}>
              <div className="session__main">
                <div className="session__device">
                  <span data-testid="session-device">{s.deviceName}</span>
                  {s.current && (
                    <span className="badge" data-testid="this-device">
                      This device
                    </span>
                  )}
                </div>
                <div className="session__meta muted">
                  <span>{s.platform}</span>
                  <span aria-hidden="true">·</span>
                  <span title={format(parseISO(s.lastActiveAt), 'PPpp')}>
                    Active {formatDistanceToNow(parseISO(s.lastActiveAt), { addSuffix: true })}
                  </span>
                  <span aria-hidden="true">·</span>
                  <span>Signed in {format(parseISO(s.createdAt), 'PP')}</span>
                </div>
              </div>
              {!s.current && (
                <button
                  type="button"
                  className="button button--danger"
                  onClick={() => void revoke(s.id)}
                  disabled={revoking === s.id}
                  aria-label={`Sign out ${s.deviceName}`}
                >
                  {revoking === s.id ? 'Signing out…' : 'Sign out'}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
