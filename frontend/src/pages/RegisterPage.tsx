import { type RegisterInput, registerSchema } from '@parley/contracts';
import type { FormEvent } from 'react';
import { api } from '../api/client';
import { webDeviceFields } from '../api/device';
import { useAuthStore } from '../auth/auth-store';
import { AuthCard } from '../components/AuthCard';
import { Field } from '../components/Field';
import { succeeded, useApiForm } from '../components/use-api-form';

type RegisterForm = Pick<RegisterInput, 'username' | 'email' | 'displayName' | 'password'>;

export function RegisterPage() {
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
    <AuthCard
      title="Create your account"
      testId="register-form"
      onSubmit={onSubmit}
      notice={notice}
      pending={pending}
      submitLabel="Create account"
      pendingLabel="Creating account…"
      switchPrompt="Already have an account?"
      switchTo="/login"
      switchLabel="Sign in"
    >
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
    </AuthCard>
  );
}
