/**
 * The top bar's menu button (shown on a narrow screen, where the navigation and Log out fold
 * into it): it opens and closes the panel, Escape gives focus back to it, a link closes it.
 */
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { renderAt } from '../test/render-app';
import { errorReply, stubNetwork, testUser } from '../test/stub-network';

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  stubNetwork((req) => {
    if (req.url.startsWith('/api/chats')) return { status: 200, body: { chats: [], nextCursor: null } };
    return errorReply(404, 'NOT_FOUND', 'Not found.');
  });
});

describe('the top bar menu', () => {
  it('opens the navigation and Log out; Escape closes it and focus goes back to the button', async () => {
    renderAt('/');
    const user = userEvent.setup();
    const button = await screen.findByTestId('nav-menu-button');
    const bar = button.closest('header')!;
    expect(button).toHaveAttribute('aria-expanded', 'false');
    expect(button).toHaveAttribute('aria-controls', 'topbar-menu');
    expect(screen.getByTestId('nav-menu')).toHaveAttribute('id', 'topbar-menu');

    await user.click(button);
    expect(button).toHaveAttribute('aria-expanded', 'true');
    expect(bar).toHaveClass('topbar--nav-open');
    expect(screen.getByTestId('nav-menu')).toContainElement(screen.getByRole('button', { name: 'Log out' }));
    screen.getByRole('link', { name: 'Profile' }).focus();
    await user.keyboard('{Escape}');
    expect(button).toHaveAttribute('aria-expanded', 'false');
    expect(bar).not.toHaveClass('topbar--nav-open');
    expect(button).toHaveFocus();
  });

  it('a link in it goes there and folds it; a click outside folds it too', async () => {
    const router = renderAt('/');
    const user = userEvent.setup();
    const button = await screen.findByTestId('nav-menu-button');
    await user.click(button);
    await user.click(screen.getByRole('link', { name: 'Profile' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/settings/profile'));
    expect(button).toHaveAttribute('aria-expanded', 'false');

    await user.click(button);
    expect(button).toHaveAttribute('aria-expanded', 'true');
    await user.click(document.querySelector('main')!);
    expect(button).toHaveAttribute('aria-expanded', 'false');
  });
});
