/** Dialogs keep focus inside while open and give it back to what opened them. */
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { fakeServer } from '../test/fake-server';
import { renderAt } from '../test/render-app';
import { testUser } from '../test/stub-network';

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  fakeServer({ chats: [], pages: {}, users: [] });
});

describe('dialogs', () => {
  it('New chat: Tab stays inside, Escape closes and focus returns to the button', async () => {
    const u = userEvent.setup();
    renderAt('/');
    const opener = await screen.findByTestId('new-chat-button');
    await u.click(opener);
    const dialog = await screen.findByRole('dialog');
    for (let i = 0; i < 6; i += 1) {
      await u.tab();
      expect(dialog.contains(document.activeElement)).toBe(true);
    }
    await u.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(opener).toHaveFocus();
  });
});
