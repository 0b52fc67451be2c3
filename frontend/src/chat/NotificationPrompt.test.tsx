/** The notification prompt: "Not now" holds across reloads for a while, then it asks again. */
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotificationPrompt, PROMPT_SNOOZE_MS } from './NotificationPrompt';

beforeEach(() => {
  localStorage.clear();
  vi.stubGlobal('Notification', { permission: 'default', requestPermission: vi.fn() });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('NotificationPrompt', () => {
  it('"Not now" sticks across a reload, and the prompt comes back after the snooze', async () => {
    const u = userEvent.setup();
    const first = render(<NotificationPrompt />);
    await u.click(screen.getByTestId('notifications-not-now'));
    expect(screen.queryByTestId('notification-prompt')).toBeNull();
    first.unmount();
    // A reload: a fresh component, the same browser storage.
    const second = render(<NotificationPrompt />);
    expect(screen.queryByTestId('notification-prompt')).toBeNull();
    second.unmount();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + PROMPT_SNOOZE_MS + 1_000);
    render(<NotificationPrompt />);
    expect(screen.getByTestId('notification-prompt')).toBeInTheDocument();
  });
});
