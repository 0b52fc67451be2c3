import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, beforeEach } from 'vitest';
import { stopMessaging } from '../messaging/session';
import { FakeSocket, InertWebSocket } from './fake-socket';
import { restoreNetwork } from './stub-network';

// No test reaches a real server: the app's socket is a fake that stays "connecting".
globalThis.WebSocket = InertWebSocket as unknown as typeof WebSocket;

beforeEach(() => {
  FakeSocket.reset();
});

afterEach(() => {
  cleanup();
  stopMessaging();
  restoreNetwork();
});
