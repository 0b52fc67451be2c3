import { type RegisterInput, registerSchema } from '@parley/contracts';
import { type FormEvent, useState } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { api } from '../api/client';
import { webDeviceFields } from '../api/device';
import { hasFieldErrorFor, networkProblem, toProblem, validateWith } from '../api/errors';
import { useAuthStore } from '../auth/auth-store';
import { Field, FormMessage } from '../components/Field';

type RegisterForm = Pick<RegisterInput, 'username' | 'email' | 'displayName' | 'password'>;
type FieldErrors = Partial<Record<keyof RegisterForm, string>>;

export function RegisterPage() {
  const location = useLocation();
  const signIn = useAuthStore((s) => s.signIn);
  const [form, setForm] = useState<RegisterForm>({
    username: '',
    email: '',
    displayName: '',
    password: '',
  });
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  const update = (key: keyof RegisterForm) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setFormError(null);
    const body = { ...form, ...webDeviceFields() };
    const checked = validateWith(registerSchema, body);
    if (!checked.ok) {
      setFieldErrors(checked.fieldErrors);
      return;
    }
    setFieldErrors({});
    setPending(true);
    try {
      const res = await api.auth.register({ body });
      if (res.status === 201) {
        signIn(res.body);
        return;
      }
      const problem = toProblem(res.status, res.body);
      if (problem.code === 'USERNAME_TAKEN') setFieldErrors({ username: problem.message });
      else if (problem.code === 'EMAIL_TAKEN') setFieldErrors({ email: problem.message });
      else {
        setFieldErrors(problem.fieldErrors);
        if (!hasFieldErrorFor(problem.fieldErrors, form)) setFormError(problem.message);
      }
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
        <h2>Create your account</h2>
        <form onSubmit={onSubmit} noValidate aria-label="Create account" data-testid="register-form">
          <Field
            id="username"
            label="Username"
            autoComplete="username"
            autoFocus
            hint="3–32 characters: a-z, 0-9, “_” and “.”"
            value={form.username}
            onChange={update('username')}
            error={fieldErrors.username}
          />
          <Field
            id="email"
            label="Email"
            type="email"
            autoComplete="email"
            value={form.email}
            onChange={update('email')}
            error={fieldErrors.email}
          />
          <Field
            id="displayName"
            label="Display name"
            autoComplete="name"
            value={form.displayName}
            onChange={update('displayName')}
            error={fieldErrors.displayName}
          />
          <Field
            id="password"
            label="Password"
            type="password"
            autoComplete="new-password"
            hint="At least 8 characters"
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
