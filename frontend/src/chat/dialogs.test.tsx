/** Dialogs keep focus inside while open and give it back to what opened them. */
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, CAROL, user } from '../test/chat-fixtures';
import { fakeServer } from '../test/fake-server';
import { renderAt } from '../test/render-app';
import { testUser } from '../test/stub-network';

let server: ReturnType<typeof fakeServer>;
beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  server = fakeServer({
    chats: [],
    pages: {},
    users: [
      { ...user(BOB), username: 'anna' },
      { ...user(CAROL), username: 'anton' },
    ],
  });
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

  it('people search: ↓/↑ move through the results, Enter picks', async () => {
    const u = userEvent.setup();
    renderAt('/');
    await u.click(await screen.findByTestId('new-chat-button'));
    const input = await screen.findByTestId('user-search-input');
    await u.type(input, 'an');
    const results = await screen.findAllByRole('option', {}, { timeout: 3000 });
    expect(results.length).toBeGreaterThan(1);
    expect(results[0]).toHaveAttribute('aria-selected', 'true');
    await u.keyboard('{ArrowDown}');
    expect(results[1]).toHaveAttribute('aria-selected', 'true');
    expect(input).toHaveAttribute('aria-activedescendant', results[1]!.id);
    const picked = results[1]!.querySelector('[data-user-id]')!.getAttribute('data-user-id');
    await u.keyboard('{Enter}');
    await waitFor(() => expect(server.calls('POST', '/api/chats/direct')).toHaveLength(1));
    expect(server.calls('POST', '/api/chats/direct')[0]!.body).toEqual({ userId: picked });
  });
});
