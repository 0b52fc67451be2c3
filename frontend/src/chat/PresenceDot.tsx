import { usePresenceStore } from '../messaging/presence-store';
import { lastSeen } from './format';

/** Green when the user has a connected device; grey otherwise (with "last seen" as its title). */
export function PresenceDot({ userId }: { userId: string }) {
  const presence = usePresenceStore((s) => s.byUser[userId]);
  const online = presence?.online ?? false;
  const label = online ? 'Online' : presence ? lastSeen(presence.lastSeenAt) : 'Offline';
  return (
    <span
      className={`presence-dot${online ? ' presence-dot--online' : ''}`}
      role="img"
      aria-label={label}
      title={label}
      data-testid="presence-dot"
      data-online={online}
    />
  );
}
