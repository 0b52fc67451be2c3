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

/** Attach a file. */
export function PaperclipIcon() {
  return (
    <svg {...base} width={18} height={18}>
      <path
        d="M13.2 7.6 8 12.8a3.2 3.2 0 0 1-4.5-4.5l5.6-5.6a2.1 2.1 0 0 1 3 3L6.5 11.3a1 1 0 0 1-1.5-1.5l4.9-4.9"
        stroke="currentColor"
        strokeWidth="1.4"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** Record a voice note. */
export function MicIcon() {
  return (
    <svg {...base} width={18} height={18}>
      <rect x="5.6" y="1.6" width="4.8" height="8.2" rx="2.4" stroke="currentColor" strokeWidth="1.4" />
      <path
        d="M3.4 7.6a4.6 4.6 0 0 0 9.2 0M8 12.2v2.3"
        stroke="currentColor"
        strokeWidth="1.4"
        strokeLinecap="round"
      />
    </svg>
  );
}

export function PlayIcon() {
  return (
    <svg {...base}>
      <path d="M4.5 2.8v10.4L13 8z" fill="currentColor" />
    </svg>
  );
}

export function PauseIcon() {
  return (
    <svg {...base}>
      <rect x="3.6" y="2.8" width="3" height="10.4" rx="0.8" fill="currentColor" />
      <rect x="9.4" y="2.8" width="3" height="10.4" rx="0.8" fill="currentColor" />
    </svg>
  );
}

export function StopIcon() {
  return (
    <svg {...base}>
      <rect x="3.5" y="3.5" width="9" height="9" rx="1.5" fill="currentColor" />
    </svg>
  );
}

/** A document with a folded corner. */
export function FileIcon() {
  return (
    <svg {...base} width={22} height={22}>
      <path
        d="M4 1.5h5.3L12.5 4.7v9.3a.5.5 0 0 1-.5.5H4a.5.5 0 0 1-.5-.5V2a.5.5 0 0 1 .5-.5z M9.2 1.6v3.2h3.2"
        stroke="currentColor"
        strokeWidth="1.2"
        strokeLinejoin="round"
      />
    </svg>
  );
}

export function DownloadIcon() {
  return (
    <svg {...base}>
      <path
        d="M8 2.2v8M4.6 7 8 10.4 11.4 7M2.8 13.6h10.4"
        stroke="currentColor"
        strokeWidth="1.5"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

export function TrashIcon() {
  return (
    <svg {...base}>
      <path
        d="M2.8 4.2h10.4M6.4 4.2V2.6h3.2v1.6M4.2 4.2l.7 9.2h6.2l.7-9.2"
        stroke="currentColor"
        strokeWidth="1.3"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** Pictures and files of a chat. */
export function GalleryIcon() {
  return (
    <svg {...base}>
      <rect x="1.8" y="2.6" width="12.4" height="10.8" rx="1.6" stroke="currentColor" strokeWidth="1.3" />
      <circle cx="5.6" cy="6.2" r="1.2" fill="currentColor" />
      <path
        d="m2.4 12 3.8-3.6 2.6 2.4 2-1.8 2.8 2.6"
        stroke="currentColor"
        strokeWidth="1.3"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** Open the navigation (phone width). */
export function MenuIcon() {
  return (
    <svg width="20" height="20" viewBox="0 0 20 20" aria-hidden="true">
      <path d="M3 5.5h14M3 10h14M3 14.5h14" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
    </svg>
  );
}

/** Group settings: a cog. */
export function GearIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">
      <circle cx="8" cy="8" r="4.2" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <circle cx="8" cy="8" r="1.5" fill="currentColor" />
      <path
        d="M12.6 8.0L14.6 8.0M11.3 11.3L12.7 12.7M8.0 12.6L8.0 14.6M4.7 11.3L3.3 12.7M3.4 8.0L1.4 8.0M4.7 4.7L3.3 3.3M8.0 3.4L8.0 1.4M11.3 4.7L12.7 3.3"
        stroke="currentColor"
        strokeWidth="2.2"
      />
    </svg>
  );
}
