import type { Availability } from '@parley/contracts';

export const availabilityLabels: Record<Availability, string> = {
  available: 'Available',
  away: 'Away',
  busy: 'Busy',
};

export function AvailabilityDot({ availability }: { availability: Availability }) {
  return (
    <span
      className={`dot dot--${availability}`}
      role="img"
      aria-label={availabilityLabels[availability]}
      title={availabilityLabels[availability]}
      data-testid="availability-dot"
      data-availability={availability}
    />
  );
}
