/** Who is online, and when the others were last seen (from member lists and presence events). */
import type { ChatMember } from '@parley/contracts';
import { create } from 'zustand';

export interface Presence {
  online: boolean;
  lastSeenAt: string | null;
}

interface PresenceState {
  byUser: Record<string, Presence>;
  set: (userId: string, presence: Presence) => void;
  fromMembers: (members: ChatMember[]) => void;
  clear: () => void;
}

export const usePresenceStore = create<PresenceState>()((set) => ({
  byUser: {},
  set: (userId, presence) => set((s) => ({ byUser: { ...s.byUser, [userId]: presence } })),
  fromMembers: (members) =>
    set((s) => {
      const byUser = { ...s.byUser };
      for (const m of members) byUser[m.user.id] = { online: m.online, lastSeenAt: m.lastSeenAt };
      return { byUser };
    }),
  clear: () => set({ byUser: {} }),
}));
