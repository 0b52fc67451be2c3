import { create } from 'zustand';
import type { ConnectionState } from './realtime-client';

/** The WebSocket's state, for the "Reconnecting…" banner and for choosing WS or REST. */
export const useConnectionStore = create<{ state: ConnectionState }>()(() => ({ state: 'idle' }));
