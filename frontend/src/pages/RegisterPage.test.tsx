import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { authResult, errorReply, stubNetwork, testUser } from '../test/stub-network';
import { renderAt, signedOut } from '../test/render-app';

let net: ReturnType<typeof stubNetwork> | null = null;

beforeEach(signedOut);

async function fillRegisterForm() {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText('Username'), 'ada');
  await user.type(screen.getByLabelText('Email'), 'ada@example.com');
  await user.type(screen.getByLabelText('Display name'), 'Ada Lovelace');
  await user.type(screen.getByLabelText('Password'), 'correct horse');
  await user.click(screen.getByRole('button', { name: 'Create account' }));
}

/** The error element tied to an input through aria-describedby. */
function errorFor(label: string): HTMLElement | null {
  const input = screen.getByLabelText(label);
  const ids = input.getAttribute('aria-describedby')?.split(' ') ?? [];
  return (
    ids.map((id) => document.getElementById(id)).find((el) => el?.classList.contains('field__error')) ?? null
  );
}

describe('RegisterPage', () => {
  it('shows server VALIDATION_ERROR details next to their fields', async () => {
    net = stubNetwork(() =>
      errorReply(400, 'VALIDATION_ERROR', 'The request is not valid.', [
        { path: 'username', message: 'That username is reserved.' },
        { path: 'body.password', message: 'That password is too common.' },
      ]),
    );
    renderAt('/register');
    await fillRegisterForm();

    expect(await screen.findByText('That username is reserved.')).toBeVisible();
    expect(errorFor('Username')).toHaveTextContent('That username is reserved.');
    expect(errorFor('Password')).toHaveTextContent('That password is too common.');
    expect(screen.getByLabelText('Username')).toHaveAttribute('aria-invalid', 'true');
    expect(errorFor('Email')).toBeNull();
    expect(screen.queryByTestId('form-error')).toBeNull();
    expect(net.requests[0]?.body).toMatchObject({
      username: 'ada',
      platform: 'web',
      refreshTokenDelivery: 'cookie',
    });
  });

  it('puts USERNAME_TAKEN on the username field and keeps the user on the form', async () => {
    // As the server answers (backend/src/auth/register-user.ts): the field named in details.
    net = stubNetwork(() =>
      errorReply(409, 'USERNAME_TAKEN', 'That username is taken.', [
        { path: 'username', message: 'That username is taken.', location: 'body' },
      ]),
    );
    renderAt('/register');
    await fillRegisterForm();
    expect(await screen.findByText('That username is taken.')).toBeVisible();
    expect(errorFor('Username')).toHaveTextContent('That username is taken.');
    expect(useAuthStore.getState().status).toBe('signedOut');
  });

  it('checks fields with the contract schema before sending anything', async () => {
    net = stubNetwork(() => ({ status: 500 }));
    renderAt('/register');
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Username'), 'Ad');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(errorFor('Username')).toHaveTextContent('Use at least 3 characters.');
    expect(errorFor('Email')).toHaveTextContent('Enter a valid email address.');
    expect(net.requests).toHaveLength(0);
  });

  it('signs in and returns to the page the user first asked for', async () => {
    net = stubNetwork((req) =>
      req.url === '/api/auth/register' ? { status: 201, body: authResult('tok') } : { status: 404 },
    );
    const router = renderAt('/settings/profile');
    // Not signed in: sent to /login, then on to /register with the return path kept.
    expect(router.state.location.pathname).toBe('/login');
    await userEvent.setup().click(screen.getByRole('link', { name: 'Create an account' }));
    await fillRegisterForm();
    expect(await screen.findByRole('heading', { name: 'Profile' })).toBeVisible();
    expect(router.state.location.pathname).toBe('/settings/profile');
    expect(within(screen.getByTestId('current-user')).getByText(testUser.displayName)).toBeVisible();
  });
});
