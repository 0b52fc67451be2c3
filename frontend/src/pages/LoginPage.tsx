import { type LoginInput, loginSchema } from '@parley/contracts';
import type { FormEvent } from 'react';
import { api } from '../api/client';
import { webDeviceFields } from '../api/device';
import { useAuthStore } from '../auth/auth-store';
import { AuthCard } from '../components/AuthCard';
import { Field } from '../components/Field';
import { succeeded, useApiForm } from '../components/use-api-form';

type LoginForm = Pick<LoginInput, 'login' | 'password'>;

export function LoginPage() {
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
    <AuthCard
      title="Sign in"
      testId="login-form"
      onSubmit={onSubmit}
      notice={notice}
      pending={pending}
      submitLabel="Sign in"
      pendingLabel="Signing in…"
      switchPrompt="New to Parley?"
      switchTo="/register"
      switchLabel="Create an account"
    >
      <Field id="login" label="Username or email" autoComplete="username" autoFocus {...bind('login')} />
      <Field
        id="password"
        label="Password"
        type="password"
        autoComplete="current-password"
        {...bind('password')}
      />
    </AuthCard>
  );
}
