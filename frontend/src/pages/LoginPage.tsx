import { type LoginInput, loginSchema } from '@parley/contracts';
import { type FormEvent, useState } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { api } from '../api/client';
import { webDeviceFields } from '../api/device';
import { hasFieldErrorFor, networkProblem, toProblem, validateWith } from '../api/errors';
import { useAuthStore } from '../auth/auth-store';
import { Field, FormMessage } from '../components/Field';

type LoginForm = Pick<LoginInput, 'login' | 'password'>;
type FieldErrors = Partial<Record<keyof LoginForm, string>>;

export function LoginPage() {
  const location = useLocation();
  const signIn = useAuthStore((s) => s.signIn);
  const [form, setForm] = useState<LoginForm>({ login: '', password: '' });
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  const update = (key: keyof LoginForm) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setFormError(null);
    const checked = validateWith(loginSchema, form);
    if (!checked.ok) {
      setFieldErrors(checked.fieldErrors);
      return;
    }
    setFieldErrors({});
    setPending(true);
    try {
      const res = await api.auth.login({ body: { ...form, ...webDeviceFields() } });
      if (res.status === 200) {
        // RedirectIfSignedIn sends the user on to where they were going.
        signIn(res.body);
        return;
      }
      const problem = toProblem(res.status, res.body);
      setFieldErrors(problem.fieldErrors);
      if (!hasFieldErrorFor(problem.fieldErrors, form)) setFormError(problem.message);
    } catch {
      setFormError(networkProblem().message);
    } finally {
      setPending(false);
    }
  }

  return (
    <main className="auth-page">
      <div className="auth-card">
        <h1 className="brand">Parley</h1>
        <h2>Sign in</h2>
        <form onSubmit={onSubmit} noValidate aria-label="Sign in" data-testid="login-form">
          <Field
            id="login"
            label="Username or email"
            autoComplete="username"
            autoFocus
            value={form.login}
            onChange={update('login')}
            error={fieldErrors.login}
          />
          <Field
            id="password"
            label="Password"
            type="password"
            autoComplete="current-password"
            value={form.password}
            onChange={update('password')}
            error={fieldErrors.password}
          />
          {formError && (
            <FormMessage kind="error" testId="form-error">
              {formError}
            </FormMessage>
          )}
          <button type="submit" className="button button--primary button--block" disabled={pending}>
            {pending ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <p className="auth-card__switch">
          New to Parley?{' '}
          <Link to="/register" state={location.state}>
            Create an account
          </Link>
        </p>
      </div>
    </main>
  );
}
