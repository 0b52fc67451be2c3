/** Losing the connection shows at once: a banner, and my own dot is no longer green. */
import { act, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { useConnectionStore } from '../realtime/connection-store';
import { fakeServer } from '../test/fake-server';
import { renderAt } from '../test/render-app';
import { testUser } from '../test/stub-network';

function setBrowserOnline(online: boolean) {
  Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => online });
  window.dispatchEvent(new Event(online ? 'online' : 'offline'));
}

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  fakeServer({ chats: [], pages: {}, users: [] });
});
afterEach(() => setBrowserOnline(true));

describe('connection state in the top bar', () => {
  it('"Connecting…" or "Offline" while the connection is lost; my dot shows offline until it is back', async () => {
    renderAt('/');
    const me = await screen.findByTestId('current-user');
    const dot = () => within(me).getByTestId('availability-dot');
    act(() => useConnectionStore.setState({ state: 'online' }));
    expect(dot()).toHaveAttribute('data-availability', 'available');
    expect(screen.queryByTestId('reconnecting-banner')).toBeNull();

    act(() => useConnectionStore.setState({ state: 'reconnecting' }));
    expect(screen.getByTestId('reconnecting-banner')).toHaveTextContent('Connecting…');
    expect(dot()).toHaveAttribute('data-availability', 'offline');

    act(() => setBrowserOnline(false));
    expect(screen.getByTestId('reconnecting-banner')).toHaveTextContent('Offline.');

    act(() => {
      setBrowserOnline(true);
      useConnectionStore.setState({ state: 'online' });
    });
    expect(screen.queryByTestId('reconnecting-banner')).toBeNull();
    expect(dot()).toHaveAttribute('data-availability', 'available');
  });
});
