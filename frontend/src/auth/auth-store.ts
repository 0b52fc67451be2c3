import type { AuthResult, SelfUser } from '@parley/contracts';
import { create } from 'zustand';

export type AuthStatus = 'loading' | 'signedIn' | 'signedOut';

interface AuthState {
  status: AuthStatus;
  user: SelfUser | null;
  /** Kept in memory only: never written to localStorage/sessionStorage (XSS would read it). */
  accessToken: string | null;
  sessionId: string | null;
  signIn: (result: AuthResult) => void;
  setUser: (user: SelfUser) => void;
  signOut: () => void;
}

export const useAuthStore = create<AuthState>()((set) => ({
  status: 'loading',
  user: null,
  accessToken: null,
  sessionId: null,
  signIn: (result) =>
    set({
      status: 'signedIn',
      user: result.user,
      accessToken: result.accessToken,
      sessionId: result.sessionId,
    }),
  setUser: (user) => set({ user }),
  signOut: () => set({ status: 'signedOut', user: null, accessToken: null, sessionId: null }),
}));
