/**
 * Who is online: a user is online while at least one authenticated socket is open.
 * Embedded mode counts sockets in this process; a Redis implementation (counts per node
 * with expiry) fits the same interface.
 */
export interface PresenceRegistry {
  /** Returns true when this was the user's first socket (they just came online). */
  connected(userId: string): Promise<boolean>;
  /** Returns true when this was the user's last socket (they just went offline). */
  disconnected(userId: string): Promise<boolean>;
  onlineAmong(userIds: readonly string[]): Promise<Set<string>>;
}

export function createMemoryPresence(): PresenceRegistry {
  const sockets = new Map<string, number>();
  return {
    async connected(userId) {
      const n = (sockets.get(userId) ?? 0) + 1;
      sockets.set(userId, n);
      return n === 1;
    },
    async disconnected(userId) {
      const n = (sockets.get(userId) ?? 0) - 1;
      if (n > 0) {
        sockets.set(userId, n);
        return false;
      }
      sockets.delete(userId);
      return n === 0;
    },
    async onlineAmong(userIds) {
      return new Set(userIds.filter((id) => sockets.has(id)));
    },
  };
}
