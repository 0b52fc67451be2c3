import {
  type Availability,
  type UpdateProfile,
  availabilitySchema,
  changePasswordSchema,
  contract,
  updateProfileSchema,
} from '@parley/contracts';
import type { ClientInferRequest } from '@ts-rest/core';
import { type FormEvent, useState } from 'react';
import { api } from '../api/client';
import { hasFieldErrorFor, networkProblem, toProblem, validateWith } from '../api/errors';
import { useAuthStore } from '../auth/auth-store';
import { availabilityLabels } from '../components/AvailabilityDot';
import { Field, FormMessage } from '../components/Field';

type ProfileForm = Required<UpdateProfile>;
type PasswordForm = ClientInferRequest<typeof contract.users.changePassword>['body'];

export function ProfilePage() {
  return (
    <div className="page">
      <h1>Profile</h1>
      <ProfileCard />
      <PasswordCard />
    </div>
  );
}

function ProfileCard() {
  const user = useAuthStore((s) => s.user);
  const setUser = useAuthStore((s) => s.setUser);
  const [form, setForm] = useState<ProfileForm>({
    displayName: user?.displayName ?? '',
    statusText: user?.statusText ?? '',
    availability: user?.availability ?? 'available',
  });
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof ProfileForm, string>>>({});
  const [message, setMessage] = useState<{ kind: 'error' | 'success'; text: string } | null>(null);
  const [pending, setPending] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setMessage(null);
    const checked = validateWith(updateProfileSchema, form);
    if (!checked.ok) {
      setFieldErrors(checked.fieldErrors);
      return;
    }
    setFieldErrors({});
    setPending(true);
    try {
      const res = await api.users.updateMe({ body: form });
      if (res.status === 200) {
        setUser(res.body);
        setForm({
          displayName: res.body.displayName,
          statusText: res.body.statusText,
          availability: res.body.availability,
        });
        setMessage({ kind: 'success', text: 'Profile saved.' });
        return;
      }
      const problem = toProblem(res.status, res.body);
      setFieldErrors(problem.fieldErrors);
      if (!hasFieldErrorFor(problem.fieldErrors, form)) setMessage({ kind: 'error', text: problem.message });
    } catch {
      setMessage({ kind: 'error', text: networkProblem().message });
    } finally {
      setPending(false);
    }
  }

  return (
    <section className="card" aria-labelledby="profile-form-title">
      <h2 id="profile-form-title">Your details</h2>
      <form onSubmit={onSubmit} noValidate data-testid="profile-form">
        <Field
          id="displayName"
          label="Display name"
          value={form.displayName}
          onChange={(e) => setForm((f) => ({ ...f, displayName: e.target.value }))}
          error={fieldErrors.displayName}
        />
        <Field
          id="statusText"
          label="Status"
          placeholder="What are you up to?"
          maxLength={140}
          value={form.statusText}
          onChange={(e) => setForm((f) => ({ ...f, statusText: e.target.value }))}
          error={fieldErrors.statusText}
        />
        <fieldset className="field availability-picker">
          <legend>Availability</legend>
          {availabilitySchema.options.map((option: Availability) => (
            <label key={option} className={`chip${form.availability === option ? ' chip--selected' : ''}`}>
              <input
                type="radio"
                name="availability"
                value={option}
                checked={form.availability === option}
                onChange={() => setForm((f) => ({ ...f, availability: option }))}
              />
              <span className={`dot dot--${option}`} aria-hidden="true" />
              {availabilityLabels[option]}
            </label>
          ))}
        </fieldset>
        {message && (
          <FormMessage kind={message.kind} testId={`profile-${message.kind}`}>
            {message.text}
          </FormMessage>
        )}
        <button type="submit" className="button button--primary" disabled={pending}>
          {pending ? 'Saving…' : 'Save profile'}
        </button>
      </form>
    </section>
  );
}

const emptyPasswords = { currentPassword: '', newPassword: '', confirmPassword: '' };

function PasswordCard() {
  const [form, setForm] = useState(emptyPasswords);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof typeof emptyPasswords, string>>>({});
  const [message, setMessage] = useState<{ kind: 'error' | 'success'; text: string } | null>(null);
  const [pending, setPending] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setMessage(null);
    const body: PasswordForm = {
      currentPassword: form.currentPassword,
      newPassword: form.newPassword,
    };
    const checked = validateWith(changePasswordSchema, body);
    const errors: Partial<Record<keyof typeof emptyPasswords, string>> = checked.ok
      ? {}
      : checked.fieldErrors;
    if (form.confirmPassword !== form.newPassword) errors.confirmPassword = 'The passwords do not match.';
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) return;
    setPending(true);
    try {
      const res = await api.users.changePassword({ body });
      if (res.status === 204) {
        setForm(emptyPasswords);
        setMessage({
          kind: 'success',
          text: 'Password changed. Your other devices have been signed out.',
        });
        return;
      }
      const problem = toProblem(res.status, res.body);
      if (problem.code === 'WRONG_CURRENT_PASSWORD') setFieldErrors({ currentPassword: problem.message });
      else {
        setFieldErrors(problem.fieldErrors);
        if (!hasFieldErrorFor(problem.fieldErrors, form))
          setMessage({ kind: 'error', text: problem.message });
      }
    } catch {
      setMessage({ kind: 'error', text: networkProblem().message });
    } finally {
      setPending(false);
    }
  }

  return (
    <section className="card" aria-labelledby="password-form-title">
      <h2 id="password-form-title">Change password</h2>
      <form onSubmit={onSubmit} noValidate data-testid="password-form">
        <Field
          id="currentPassword"
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={form.currentPassword}
          onChange={(e) => setForm((f) => ({ ...f, currentPassword: e.target.value }))}
          error={fieldErrors.currentPassword}
        />
        <Field
          id="newPassword"
          label="New password"
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters"
          value={form.newPassword}
          onChange={(e) => setForm((f) => ({ ...f, newPassword: e.target.value }))}
          error={fieldErrors.newPassword}
        />
        <Field
          id="confirmPassword"
          label="Repeat new password"
          type="password"
          autoComplete="new-password"
          value={form.confirmPassword}
          onChange={(e) => setForm((f) => ({ ...f, confirmPassword: e.target.value }))}
          error={fieldErrors.confirmPassword}
        />
        {message && (
          <FormMessage kind={message.kind} testId={`password-${message.kind}`}>
            {message.text}
          </FormMessage>
        )}
        <button type="submit" className="button button--primary" disabled={pending}>
          {pending ? 'Changing…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}
