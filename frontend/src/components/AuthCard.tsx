/** The centred card of the sign-in and sign-up pages: title, form, message, button, switch link. */
import type { FormEvent, ReactNode } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { FormMessage } from './Field';
import type { FormNotice } from './use-api-form';

interface AuthCardProps {
  title: string;
  testId: string;
  onSubmit: (e: FormEvent) => void;
  notice: FormNotice | null;
  pending: boolean;
  submitLabel: string;
  pendingLabel: string;
  switchPrompt: string;
  switchTo: string;
  switchLabel: string;
  children: ReactNode;
}

export function AuthCard(props: AuthCardProps) {
  const location = useLocation();
  return (
    <main className="auth-page">
      <div className="auth-card">
        <h1 className="brand">Parley</h1>
        <h2>{props.title}</h2>
        <form onSubmit={props.onSubmit} noValidate aria-label={props.submitLabel} data-testid={props.testId}>
          {props.children}
          {props.notice && (
            <FormMessage kind={props.notice.kind} testId="form-error">
              {props.notice.text}
            </FormMessage>
          )}
          <button type="submit" className="button button--primary button--block" disabled={props.pending}>
            {props.pending ? props.pendingLabel : props.submitLabel}
          </button>
        </form>
        <p className="auth-card__switch">
          {props.switchPrompt} {/* Keep where the user was going, so either page returns them there. */}
          <Link to={props.switchTo} state={location.state}>
            {props.switchLabel}
          </Link>
        </p>
      </div>
    </main>
  );
}
