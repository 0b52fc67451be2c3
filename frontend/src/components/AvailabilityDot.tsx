import type { Availability } from '@parley/contracts';

export const availabilityLabels: Record<Availability, string> = {
  available: 'Available',
  away: 'Away',
  busy: 'Busy',
};

/** A person's availability; `offline`: my own while this tab has no connection. */
export function AvailabilityDot({
  availability,
  offline = false,
}: {
  availability: Availability;
  offline?: boolean;
}) {
  const label = offline ? 'Offline' : availabilityLabels[availability];
  return (
    <span
      className={`dot dot--${offline ? 'offline' : availability}`}
      role="img"
      aria-label={label}
      title={label}
      data-testid="availability-dot"
      data-availability={offline ? 'offline' : availability}
    />
  );
}
