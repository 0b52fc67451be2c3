/** Small inline icons (SVG, so they need no emoji font and take the text colour). */
const base = { width: 16, height: 16, viewBox: '0 0 16 16', fill: 'none', 'aria-hidden': true } as const;

export function ClockIcon() {
  return (
    <svg {...base}>
      <circle cx="8" cy="8" r="6" stroke="currentColor" strokeWidth="1.4" />
      <path d="M8 4.8V8l2.2 1.4" stroke="currentColor" strokeWidth="1.4" strokeLinecap="round" />
    </svg>
  );
}

export function CheckIcon({ double = false }: { double?: boolean }) {
  return (
    <svg {...base} width={double ? 20 : 16} viewBox={double ? '0 0 20 16' : '0 0 16 16'}>
      <path
        d="M2.5 8.5l3.2 3.2L13 4.5"
        stroke="currentColor"
        strokeWidth="1.6"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
      {double && (
        <path
          d="M9.6 11.2l.5.5L17.4 4.5"
          stroke="currentColor"
          strokeWidth="1.6"
          strokeLinecap="round"
          strokeLinejoin="round"
        />
      )}
    </svg>
  );
}

export function AlertIcon() {
  return (
    <svg {...base}>
      <circle cx="8" cy="8" r="6.5" fill="currentColor" />
      <path d="M8 4.5v4.2M8 11v.4" stroke="#fff" strokeWidth="1.6" strokeLinecap="round" />
    </svg>
  );
}
