import { Link } from 'react-router-dom';

export function NotFoundPage() {
  return (
    <main className="auth-page">
      <div className="auth-card" data-testid="not-found">
        <h1 className="brand">Parley</h1>
        <h2>Page not found</h2>
        <p className="muted">There is nothing at this address.</p>
        <Link to="/" className="button button--primary button--block">
          Go home
        </Link>
      </div>
    </main>
  );
}
