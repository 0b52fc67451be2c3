import type { DeviceSession } from '@parley/contracts';
import type { AppContext } from '../app-context.js';

export async function listSessions(
  ctx: AppContext,
  userId: string,
  currentSessionId: string,
): Promise<DeviceSession[]> {
  const rows = await ctx.db.prisma.session.findMany({
    where: { userId, revokedAt: null, expiresAt: { gt: ctx.now() } },
    orderBy: { lastActiveAt: 'desc' },
    take: 200,
  });
  return rows.map((s) => ({
    id: s.id,
    deviceName: s.deviceName,
    platform: s.platform,
    createdAt: s.createdAt.toISOString(),
    lastActiveAt: s.lastActiveAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    current: s.id === currentSessionId,
  }));
}
