import { act, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { refreshAccessToken } from '../api/client';
import { useAuthStore } from '../auth/auth-store';
import { authResult, errorReply, stubNetwork } from '../test/stub-network';
import { renderAt, signedOut } from '../test/render-app';

let net: ReturnType<typeof stubNetwork> | null = null;

beforeEach(signedOut);

describe('LoginPage', () => {
  it.each([
    [401, 'INVALID_CREDENTIALS', 'Wrong username or password.'],
    [429, 'TOO_MANY_LOGIN_ATTEMPTS', 'Too many failed sign-in attempts. Try again later.'],
  ])('shows %s %s as a form-level message without refreshing', async (status, code, message) => {
    net = stubNetwork(() => errorReply(status, code, message));
    renderAt('/login');
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Username or email'), 'ada');
    await user.type(screen.getByLabelText('Password'), 'wrong password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByTestId('form-error')).toHaveTextContent(message);
    expect(net.requests.map((r) => r.url)).toEqual(['/api/auth/login']);
    expect(net.requests[0]?.body).toMatchObject({
      login: 'ada',
      platform: 'web',
      refreshTokenDelivery: 'cookie',
    });
    expect(screen.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  });

  it('waits for the silent refresh on start-up, then shows the protected page', async () => {
    useAuthStore.setState({ status: 'loading' });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    net = stubNetwork(async (req) => {
      if (req.url === '/api/auth/refresh') {
        await gate;
        return { status: 200, body: authResult('tok') };
      }
      return { status: 200, body: { sessions: [] } };
    });
    const router = renderAt('/settings/sessions');
    const refreshing = refreshAccessToken();
    expect(screen.getByTestId('app-loading')).toBeVisible();
    await act(async () => {
      release();
      await refreshing;
    });
    expect(await screen.findByRole('heading', { name: 'Sessions' })).toBeVisible();
    expect(router.state.location.pathname).toBe('/settings/sessions');
  });

  it('sends a signed-out visitor of a deep link to /login', async () => {
    net = stubNetwork(() => ({ status: 500 }));
    const router = renderAt('/chats/abc/messages/def');
    expect(await screen.findByTestId('login-form')).toBeVisible();
    expect(router.state.location.pathname).toBe('/login');
    expect(router.state.location.state).toMatchObject({
      from: { pathname: '/chats/abc/messages/def' },
    });
  });
});
