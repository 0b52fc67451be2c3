/**
 * Start-up: with the server's session hint cookie the app refreshes its token once; without
 * it there is nothing to refresh, so it is signed out at once and asks nothing (no 401).
 */
import { renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useSilentSignIn } from '../App';
import { authResult, stubNetwork, type StubRequest } from '../test/stub-network';
import { useAuthStore } from './auth-store';

let requests: StubRequest[];
beforeEach(() => {
  localStorage.clear();
  localStorage.setItem('parley.sessionHintKnown', '1');
  useAuthStore.setState({ status: 'loading', user: null, accessToken: null, sessionId: null });
  requests = stubNetwork((req) =>
    req.url === '/api/auth/refresh' ? { status: 200, body: authResult('fresh') } : { status: 404 },
  ).requests;
});
afterEach(() => {
  document.cookie = 'parley_session=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
});

describe('useSilentSignIn', () => {
  it('without a session hint: signed out at once, no request', () => {
    renderHook(() => useSilentSignIn());
    expect(useAuthStore.getState().status).toBe('signedOut');
    expect(requests).toEqual([]);
  });

  it('with the session hint: one refresh, signed in', async () => {
    document.cookie = 'parley_session=1; path=/';
    renderHook(() => useSilentSignIn());
    await waitFor(() => expect(useAuthStore.getState().status).toBe('signedIn'));
    expect(requests.map((r) => r.url)).toEqual(['/api/auth/refresh']);
    expect(useAuthStore.getState().accessToken).toBe('fresh');
  });

  it("a browser's first load of this version tries once (a session from before the hint), then no more", async () => {
    localStorage.clear();
    renderHook(() => useSilentSignIn());
    await waitFor(() => expect(useAuthStore.getState().status).toBe('signedIn'));
    expect(requests).toHaveLength(1);
    useAuthStore.setState({ status: 'loading', user: null, accessToken: null, sessionId: null });
    renderHook(() => useSilentSignIn());
    expect(useAuthStore.getState().status).toBe('signedOut');
    expect(requests).toHaveLength(1);
  });
});
