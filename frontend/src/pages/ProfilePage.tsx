import {
  type Availability,
  type UpdateProfile,
  availabilitySchema,
  changePasswordSchema,
  contract,
  updateProfileSchema,
} from '@parley/contracts';
import type { ClientInferRequest } from '@ts-rest/core';
import type { FormEvent } from 'react';
import { api } from '../api/client';
import { useAuthStore } from '../auth/auth-store';
import { availabilityLabels } from '../components/AvailabilityDot';
import { Field, FormMessage } from '../components/Field';
import { succeeded, useApiForm } from '../components/use-api-form';
import { BlockedCard } from '../people/BlockedCard';

type ProfileForm = Required<UpdateProfile>;
type PasswordForm = ClientInferRequest<typeof contract.users.changePassword>['body'];

export function ProfilePage() {
  return (
    <div className="page">
      <h1>Profile</h1>
      <ProfileCard />
      <PasswordCard />
      <BlockedCard />
    </div>
  );
}

function ProfileCard() {
  const user = useAuthStore((s) => s.user);
  const setUser = useAuthStore((s) => s.setUser);
  const { values, setValues, notice, pending, bind, submit } = useApiForm<ProfileForm>({
    displayName: user?.displayName ?? '',
    statusText: user?.statusText ?? '',
    availability: user?.availability ?? 'available',
  });

  const onSubmit = (e: FormEvent) =>
    submit(e, { schema: updateProfileSchema, input: values }, async () => {
      const res = await api.users.updateMe({ body: values });
      if (res.status !== 200) return res;
      setUser(res.body);
      setValues({
        displayName: res.body.displayName,
        statusText: res.body.statusText,
        availability: res.body.availability,
      });
      return succeeded('Profile saved.');
    });

  return (
    <section className="card" aria-labelledby="profile-form-title">
      <h2 id="profile-form-title">Your details</h2>
      <form onSubmit={onSubmit} noValidate data-testid="profile-form">
        <Field id="displayName" label="Display name" {...bind('displayName')} />
        <Field
          id="statusText"
          label="Status"
          placeholder="What are you up to?"
          maxLength={140}
          {...bind('statusText')}
        />
        <fieldset className="field availability-picker">
          <legend>Availability</legend>
          {availabilitySchema.options.map((option: Availability) => (
            <label key={option} className={`chip${values.availability === option ? ' chip--selected' : ''}`}>
              <input
                type="radio"
                name="availability"
                value={option}
                checked={values.availability === option}
                onChange={() => setValues((v) => ({ ...v, availability: option }))}
              />
              <span className={`dot dot--${option}`} aria-hidden="true" />
              {availabilityLabels[option]}
            </label>
          ))}
        </fieldset>
        {notice && (
          <FormMessage kind={notice.kind} testId={`profile-${notice.kind}`}>
            {notice.text}
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
  const { values, setValues, notice, pending, bind, submit } = useApiForm(emptyPasswords);

  const onSubmit = (e: FormEvent) => {
    const body: PasswordForm = { currentPassword: values.currentPassword, newPassword: values.newPassword };
    const mismatch = values.confirmPassword !== values.newPassword;
    return submit(
      e,
      {
        schema: changePasswordSchema,
        input: body,
        extraErrors: mismatch ? { confirmPassword: 'The passwords do not match.' } : {},
      },
      async () => {
        const res = await api.users.changePassword({ body });
        if (res.status !== 204) return res;
        setValues(emptyPasswords);
        return succeeded('Password changed. Your other devices have been signed out.');
      },
    );
  };

  return (
    <section className="card" aria-labelledby="password-form-title">
      <h2 id="password-form-title">Change password</h2>
      <form onSubmit={onSubmit} noValidate data-testid="password-form">
        <Field
          id="currentPassword"
          label="Current password"
          type="password"
          autoComplete="current-password"
          {...bind('currentPassword')}
        />
        <Field
          id="newPassword"
          label="New password"
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters"
          {...bind('newPassword')}
        />
        <Field
          id="confirmPassword"
          label="Repeat new password"
          type="password"
          autoComplete="new-password"
          {...bind('confirmPassword')}
        />
        {notice && (
          <FormMessage kind={notice.kind} testId={`password-${notice.kind}`}>
            {notice.text}
          </FormMessage>
        )}
        <button type="submit" className="button button--primary" disabled={pending}>
          {pending ? 'Changing…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}
