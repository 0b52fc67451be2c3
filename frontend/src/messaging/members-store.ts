/** Members of the chats I have opened: roles and receipt positions (for ticks and "read by N of M"). */
import type { ChatMember } from '@parley/contracts';
import { create } from 'zustand';

export type MemberMap = Record<string, ChatMember>;

interface MembersState {
  byChat: Record<string, MemberMap>;
  setMembers: (chatId: string, members: ChatMember[]) => void;
  update: (chatId: string, fn: (members: MemberMap) => MemberMap) => void;
  drop: (chatId: string) => void;
  clear: () => void;
}

export const useMembersStore = create<MembersState>()((set) => ({
  byChat: {},
  setMembers: (chatId, members) =>
    set((s) => ({
      byChat: { ...s.byChat, [chatId]: Object.fromEntries(members.map((m) => [m.user.id, m])) },
    })),
  update: (chatId, fn) =>
    set((s) => {
      const current = s.byChat[chatId];
      if (!current) return s;
      const next = fn(current);
      return next === current ? s : { byChat: { ...s.byChat, [chatId]: next } };
    }),
  drop: (chatId) =>
    set((s) => {
      if (!s.byChat[chatId]) return s;
      const byChat = { ...s.byChat };
      delete byChat[chatId];
      return { byChat };
    }),
  clear: () => set({ byChat: {} }),
}));

/** Receipt positions only move forward (events can arrive after a fresher REST answer). */
export function withPositions(
  members: MemberMap,
  userId: string,
  positions: { delivered?: number; read?: number },
): MemberMap {
  const m = members[userId];
  if (!m) return members;
  const read = Math.max(m.lastReadSeq, positions.read ?? 0);
  // Read implies delivered.
  const delivered = Math.max(m.lastDeliveredSeq, positions.delivered ?? 0, read);
  if (read === m.lastReadSeq && delivered === m.lastDeliveredSeq) return members;
  return { ...members, [userId]: { ...m, lastReadSeq: read, lastDeliveredSeq: delivered } };
}

export type Receipt = 'sent' | 'delivered' | 'read';

/** Ticks of my message in a direct chat: the other person's positions. */
export function directReceipt(members: MemberMap | undefined, me: string, seq: number): Receipt {
  const peer = members ? Object.values(members).find((m) => m.user.id !== me) : undefined;
  if (!peer) return 'sent';
  if (peer.lastReadSeq >= seq) return 'read';
  if (peer.lastDeliveredSeq >= seq) return 'delivered';
  return 'sent';
}

/** "Read by N of M": members other than the sender, N of them at or past the message. */
export function readBy(
  members: MemberMap | undefined,
  senderId: string,
  seq: number,
): { read: number; of: number; delivered: number } {
  const others = members ? Object.values(members).filter((m) => m.user.id !== senderId) : [];
  return {
    read: others.filter((m) => m.lastReadSeq >= seq).length,
    delivered: others.filter((m) => m.lastDeliveredSeq >= seq).length,
    of: others.length,
  };
}
