import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach, beforeEach, vi } from 'vitest';
import { dismissConfirm } from '../chat/confirm';
import { stopMessaging } from '../messaging/session';
import { FakeSocket, InertWebSocket } from './fake-socket';
import { restoreNetwork } from './stub-network';
import { WAIT_MS } from './wait';

// Time limits are safety nets for a busy machine (Testing Library's findBy/waitFor give up
// after 1 s by default, Vitest's tests after 5 s); waits still end as soon as they can.
configure({ asyncUtilTimeout: WAIT_MS });
vi.setConfig({ testTimeout: 2 * WAIT_MS, hookTimeout: 2 * WAIT_MS });

// No test reaches a real server: the app's socket is a fake that stays "connecting".
globalThis.WebSocket = InertWebSocket as unknown as typeof WebSocket;

beforeEach(() => {
  FakeSocket.reset();
});

afterEach(() => {
  dismissConfirm();
  cleanup();
  stopMessaging();
  restoreNetwork();
});

// jsdom has no ResizeObserver; Radix's menus measure their trigger with one (nothing to
// measure in jsdom: sizes are 0).
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
};
