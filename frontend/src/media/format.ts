/** Words and numbers about media: sizes, durations, what a message with attachments says in a list. */
import { messagePreviewText, type Attachment } from '@parley/contracts';

/** 1 234 567 → "1.2 MB" (powers of 1000, as file managers show them). */
export function humanSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}

/** 65 000 ms → "1:05"; an hour or more → "1:02:03". */
export function durationText(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '0:00';
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** The extension shown on a file card ("PDF"), from the name, else from the type. */
export function fileBadge(name: string, mime: string): string {
  const ext = /\.([a-z0-9]{1,5})$/i.exec(name)?.[1];
  if (ext) return ext.toUpperCase();
  const sub = mime.split('/')[1] ?? '';
  return (sub.split(/[.+-]/).pop() ?? 'file').slice(0, 5).toUpperCase() || 'FILE';
}

/** Pictures and videos go in the grid; voice notes and files below it. */
export function isVisual(a: Pick<Attachment, 'kind'>): boolean {
  return a.kind === 'image' || a.kind === 'video';
}

/** What a message that is only attachments says in the chat list and notifications. */
export function attachmentsText(attachments: readonly Pick<Attachment, 'kind' | 'name'>[]): string {
  // The server's chat list says the same (one function in contracts).
  return messagePreviewText('', attachments);
}

/**
 * The link that downloads rather than shows: this server's signed URLs take `download=1`
 * (Content-Disposition: attachment). A URL of another origin (S3) is signed as it is and
 * must not be changed; the browser's `download` attribute is all there is for those.
 */
export function downloadUrl(url: string): string {
  const parsed = new URL(url, location.origin);
  if (parsed.origin !== location.origin) return url;
  parsed.searchParams.set('download', '1');
  return parsed.origin === location.origin && !/^https?:/i.test(url)
    ? `${parsed.pathname}${parsed.search}`
    : parsed.toString();
}
