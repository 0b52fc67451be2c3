import { type RegisterInput, registerSchema } from '@parley/contracts';
import type { FormEvent } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { api } from '../api/client';
import { webDeviceFields } from '../api/device';
import { useAuthStore } from '../auth/auth-store';
import { Field, FormMessage } from '../components/Field';
import { succeeded, useApiForm } from '../components/use-api-form';

type RegisterForm = Pick<RegisterInput, 'username' | 'email' | 'displayName' | 'password'>;

export function RegisterPage() {
  const location = useLocation();
  const signIn = useAuthStore((s) => s.signIn);
  const { values, notice, pending, bind, submit } = useApiForm<RegisterForm>({
    username: '',
    email: '',
    displayName: '',
    password: '',
  });

  const onSubmit = (e: FormEvent) => {
    const body = { ...values, ...webDeviceFields() };
    return submit(e, { schema: registerSchema, input: body }, async () => {
      const res = await api.auth.register({ body });
      if (res.status !== 201) return res;
      signIn(res.body);
      return succeeded();
    });
  };

  return (
    <main className="auth-page">
      <div className="auth-card">
        <h1 className="brand">Parley</h1>
        <h2>Create your account</h2>
        <form onSubmit={onSubmit} noValidate aria-label="Create account" data-testid="register-form">
          <Field
            id="username"
            label="Username"
            autoComplete="username"
            autoFocus
            hint="3–32 characters: a-z, 0-9, “_” and “.”"
            {...bind('username')}
          />
          <Field id="email" label="Email" type="email" autoComplete="email" {...bind('email')} />
          <Field id="displayName" label="Display name" autoComplete="name" {...bind('displayName')} />
          <Field
            id="password"
            label="Password"
            type="password"
            autoComplete="new-password"
            hint="At least 8 characters"
            {...bind('password')}
          />
          {notice && (
            <FormMessage kind={notice.kind} testId="form-error">
              {notice.text}
            </FormMessage>
          )}
          <button type="submit" className="button button--primary button--block" disabled={pending}>
            {pending ? 'Creating account…' : 'Create account'}
          </button>
        </form>
        <p className="auth-card__switch">
          Already have an account?{' '}
          <Link to="/login" state={location.state}>
            Sign in
          </Link>
        </p>
      </div>
    </main>
  );
}
