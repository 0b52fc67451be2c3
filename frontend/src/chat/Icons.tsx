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

/** Disappearing messages: a stopwatch. */
export function TimerIcon() {
  return (
    <svg {...base}>
      <circle cx="8" cy="9" r="5.6" stroke="currentColor" strokeWidth="1.4" />
      <path d="M6.2 1.6h3.6M8 9V6.2" stroke="currentColor" strokeWidth="1.4" strokeLinecap="round" />
    </svg>
  );
}

/** A bell with a line through it: the chat is muted. */
export function MutedIcon() {
  return (
    <svg {...base}>
      <path
        d="M4.2 11.5h7.6l-1.1-1.6V7a2.7 2.7 0 0 0-5.4 0v2.9z M6.7 13.2a1.4 1.4 0 0 0 2.6 0"
        stroke="currentColor"
        strokeWidth="1.3"
        strokeLinejoin="round"
      />
      <path d="M2.5 2.5l11 11" stroke="currentColor" strokeWidth="1.4" strokeLinecap="round" />
    </svg>
  );
}

export function SearchIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">
      <circle cx="7" cy="7" r="4.5" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <path d="M10.5 10.5 14 14" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
    </svg>
  );
}
