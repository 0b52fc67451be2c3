import { type LoginInput, loginSchema } from '@parley/contracts';
import type { FormEvent } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { api } from '../api/client';
import { webDeviceFields } from '../api/device';
import { useAuthStore } from '../auth/auth-store';
import { Field, FormMessage } from '../components/Field';
import { succeeded, useApiForm } from '../components/use-api-form';

type LoginForm = Pick<LoginInput, 'login' | 'password'>;

export function LoginPage() {
  const location = useLocation();
  const signIn = useAuthStore((s) => s.signIn);
  const { values, notice, pending, bind, submit } = useApiForm<LoginForm>({ login: '', password: '' });

  const onSubmit = (e: FormEvent) => {
    const body = { ...values, ...webDeviceFields() };
    return submit(e, { schema: loginSchema, input: body }, async () => {
      const res = await api.auth.login({ body });
      if (res.status !== 200) return res;
      // RedirectIfSignedIn sends the user on to where they were going.
      signIn(res.body);
      return succeeded();
    });
  };

  return (
    <main className="auth-page">
      <div className="auth-card">
        <h1 className="brand">Parley</h1>
        <h2>Sign in</h2>
        <form onSubmit={onSubmit} noValidate aria-label="Sign in" data-testid="login-form">
          <Field id="login" label="Username or email" autoComplete="username" autoFocus {...bind('login')} />
          <Field
            id="password"
            label="Password"
            type="password"
            autoComplete="current-password"
            {...bind('password')}
          />
          {notice && (
            <FormMessage kind={notice.kind} testId="form-error">
              {notice.text}
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
