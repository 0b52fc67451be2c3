import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { RouterProvider, createMemoryRouter } from 'react-router-dom';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api, refreshAccessToken } from '../api/client';
import { routes } from '../routes';
import { authResult, errorReply, stubNetwork, testUser } from '../test/stub-network';
import { useAuthStore } from './auth-store';

let net: ReturnType<typeof stubNetwork> | null = null;

beforeEach(() => {
  localStorage.clear();
  sessionStorage.clear();
  useAuthStore.setState({ status: 'signedOut', user: null, accessToken: null, sessionId: null });
});
afterEach(() => {
  net?.restore();
  net = null;
});

describe('token storage', () => {
  it('keeps tokens in memory only through sign-in, refresh and use', async () => {
    const setItem = vi.spyOn(Storage.prototype, 'setItem');
    let n = 0;
    net = stubNetwork((req) => {
      if (req.url === '/api/auth/login') return { status: 200, body: authResult('access-login-secret') };
      if (req.url === '/api/auth/refresh')
        return { status: 200, body: authResult(`access-refresh-secret-${++n}`) };
      if (req.authorization === 'Bearer access-login-secret')
        return errorReply(401, 'TOKEN_INVALID', 'expired');
      return { status: 200, body: testUser };
    });
    // The real (lazy) routes: the sign-in page's chunk loads first.
    const router = createMemoryRouter(routes, { initialEntries: ['/login'] });
    render(<RouterProvider router={router} />);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Username or email'), 'ada@example.com');
    await user.type(screen.getByLabelText('Password'), 'correct horse');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByTestId('home-page')).toBeVisible();

    expect(net.requests[0]?.body).toMatchObject({
      login: 'ada@example.com',
      refreshTokenDelivery: 'cookie',
    });
    expect((await api.users.getMe()).status).toBe(200); // 401 → refresh → retry
    await refreshAccessToken();
    expect(useAuthStore.getState().accessToken).toBe('access-refresh-secret-2');

    expect(setItem).not.toHaveBeenCalled();
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
    expect(document.cookie).not.toContain('secret');
  });
});
