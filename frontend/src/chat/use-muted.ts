import type { ChatPreferences } from '@parley/contracts';
import { useEffect, useReducer } from 'react';
import { isMuted } from '../messaging/chats-store';

/** Whether the chat is muted now; re-renders when a timed mute runs out. */
export function useIsMuted(preferences: ChatPreferences): boolean {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const muted = isMuted(preferences);
  const until = preferences.mutedUntil;
  useEffect(() => {
    if (!muted || until === null || until === 'forever') return;
    const wait = Math.min(Math.max(0, Date.parse(until) - Date.now()) + 50, 2 ** 31 - 1);
    const timer = setTimeout(rerender, wait);
    return () => clearTimeout(timer);
  }, [muted, until]);
  return muted;
}
