/**
 * A message's actions: on a wide screen with a mouse, the toolbar and its "More" menu; on a
 * narrow or touch screen (the media query matches), a tap or long-press on the message opens
 * them as a sheet, and a tap on a control inside the message stays that control's.
 */
import type { Message } from '@parley/contracts';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, ME, chat, id, message } from '../test/chat-fixtures';
import { type StubRequest, stubNetwork, testUser } from '../test/stub-network';
import { MessageItem } from './MessageItem';
import { LONG_PRESS_MS } from './use-long-press';

const C = chat(id('actions group'), { myRole: 'member' });
let requests: StubRequest[];

/** matchMedia for a screen where `compact` says whether the phone query matches. */
function screenIs(compact: boolean) {
  vi.stubGlobal('matchMedia', (query: string) => ({
    matches: compact,
    media: query,
    addEventListener: () => {},
    removeEventListener: () => {},
  }));
}

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  requests = stubNetwork(() => ({ status: 200, body: {} })).requests;
});
afterEach(() => {
  vi.unstubAllGlobals();
});

function show(m: Message) {
  const onReply = vi.fn();
  const onEdit = vi.fn();
  render(
    <MemoryRouter>
      <MessageItem
        message={m}
        chat={C}
        me={ME}
        members={undefined}
        showSender
        highlight={false}
        onReply={onReply}
        onEdit={onEdit}
        onJump={() => {}}
      />
    </MemoryRouter>,
  );
  return { onReply, onEdit };
}

describe('message actions on a narrow or touch screen', () => {
  it('a tap on the message opens the sheet; a reaction from it goes to the server', async () => {
    screenIs(true);
    show(message(C.id, 1, BOB, 'Lunch at noon?'));
    const user = userEvent.setup();
    await user.click(screen.getByText('Lunch at noon?'));
    const sheet = await screen.findByTestId('message-sheet');
    expect(sheet).toHaveAccessibleName('Message actions');
    expect(within(sheet).getByText('Lunch at noon?')).toBeInTheDocument();
    // Not my message: no Edit, no Delete for everyone (a member, not an admin).
    expect(within(sheet).queryByTestId('edit-button')).toBeNull();
    expect(within(sheet).queryByTestId('delete-everyone-button')).toBeNull();
    await user.click(within(sheet).getByRole('button', { name: 'React with 👍' }));
    expect(screen.queryByTestId('message-sheet')).toBeNull();
    await waitFor(() =>
      expect(requests.some((r) => r.method === 'POST' && r.url.endsWith('/reactions'))).toBe(true),
    );
  });

  it('a long-press (contextmenu) opens it too; Reply and Edit reach the composer', async () => {
    screenIs(true);
    const mine = message(C.id, 2, ME, 'Typo hre');
    const { onReply, onEdit } = show(mine);
    const user = userEvent.setup();
    const opened = fireEvent.contextMenu(screen.getByText('Typo hre'));
    expect(opened).toBe(false); // The browser's own menu is not shown over it.
    await user.click(within(await screen.findByTestId('message-sheet')).getByTestId('edit-button'));
    expect(onEdit).toHaveBeenCalledWith(mine);
    expect(screen.queryByTestId('message-sheet')).toBeNull();
    fireEvent.contextMenu(screen.getByText('Typo hre'));
    await user.click(within(await screen.findByTestId('message-sheet')).getByTestId('menu-reply-button'));
    expect(onReply).toHaveBeenCalledWith(mine);
  });

  it('a finger held on the message opens it (no contextmenu needed); one that moves is scrolling', () => {
    screenIs(true);
    vi.useFakeTimers();
    try {
      show(message(C.id, 5, BOB, 'Hold me'));
      const text = screen.getByText('Hold me');
      fireEvent.pointerDown(text, { pointerType: 'touch', clientX: 10, clientY: 10 });
      fireEvent.pointerMove(text, { pointerType: 'touch', clientX: 10, clientY: 40 });
      act(() => vi.advanceTimersByTime(LONG_PRESS_MS * 2));
      expect(screen.queryByTestId('message-sheet')).toBeNull();
      // A mouse button held down is not a long-press.
      fireEvent.pointerDown(text, { pointerType: 'mouse', clientX: 10, clientY: 10 });
      act(() => vi.advanceTimersByTime(LONG_PRESS_MS * 2));
      expect(screen.queryByTestId('message-sheet')).toBeNull();
      fireEvent.pointerDown(text, { pointerType: 'touch', clientX: 10, clientY: 10 });
      act(() => vi.advanceTimersByTime(LONG_PRESS_MS - 50));
      expect(screen.queryByTestId('message-sheet')).toBeNull();
      act(() => vi.advanceTimersByTime(100));
      const sheet = screen.getByTestId('message-sheet');
      // The finger lifts over the sheet: that click presses nothing.
      fireEvent.pointerUp(text, { pointerType: 'touch' });
      fireEvent.click(within(sheet).getByTestId('delete-me-button'));
      expect(screen.getByTestId('message-sheet')).toBeInTheDocument();
      expect(requests).toHaveLength(0);
      // The next tap is a tap.
      fireEvent.pointerDown(within(sheet).getByTestId('sheet-cancel'), { pointerType: 'touch' });
      fireEvent.click(within(sheet).getByTestId('sheet-cancel'));
      expect(screen.queryByTestId('message-sheet')).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a tap on a link or a reaction in the message is theirs; Cancel closes the sheet', async () => {
    screenIs(true);
    show(
      message(C.id, 3, BOB, 'See https://example.com', {
        reactions: [{ emoji: '🎉', userIds: [BOB] }],
      }),
    );
    const user = userEvent.setup();
    const link = screen.getByRole('link', { name: 'https://example.com' });
    link.addEventListener('click', (e) => e.preventDefault());
    await user.click(link);
    await user.click(screen.getByTestId('message-sender'));
    expect(screen.queryByTestId('message-sheet')).toBeNull();
    await user.click(screen.getByTestId('reaction-chip'));
    expect(screen.queryByTestId('message-sheet')).toBeNull();
    // From the keyboard: the toolbar's "More" button opens the sheet there as well.
    await user.click(screen.getByTestId('message-menu-button'));
    const sheet = await screen.findByTestId('message-sheet');
    expect(screen.queryByTestId('message-menu')).toBeNull();
    await user.click(within(sheet).getByTestId('sheet-cancel'));
    expect(screen.queryByTestId('message-sheet')).toBeNull();
  });
});

describe('message actions on a wide screen with a mouse', () => {
  it('a click on the text does nothing; "More" opens the menu beside it', async () => {
    screenIs(false);
    const mine = message(C.id, 4, ME, 'Wide and hovering');
    const { onEdit } = show(mine);
    const user = userEvent.setup();
    await user.click(screen.getByText('Wide and hovering'));
    expect(screen.queryByTestId('message-sheet')).toBeNull();
    await user.click(screen.getByTestId('message-menu-button'));
    const menu = screen.getByTestId('message-menu');
    expect(
      within(menu)
        .getAllByRole('menuitem')
        .map((b) => b.textContent),
    ).toEqual(['Reply', 'Edit', 'Copy link', 'Delete for everyone', 'Delete for me']);
    await user.click(within(menu).getByTestId('edit-button'));
    expect(onEdit).toHaveBeenCalledWith(mine);
    expect(screen.queryByTestId('message-menu')).toBeNull();
  });
});
