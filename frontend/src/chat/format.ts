import { format, formatDistanceToNow, isSameDay, isSameYear, isToday, isYesterday, parseISO } from 'date-fns';

export function timeOf(iso: string): string {
  return format(parseISO(iso), 'HH:mm');
}

export function fullTime(iso: string): string {
  return format(parseISO(iso), 'PPpp');
}

/** The chat list's time: today's time, else the date. */
export function listTime(iso: string, now = new Date()): string {
  const d = parseISO(iso);
  if (isSameDay(d, now)) return format(d, 'HH:mm');
  if (isYesterday(d)) return 'Yesterday';
  return isSameYear(d, now) ? format(d, 'd MMM') : format(d, 'd MMM yyyy');
}

export function dayLabel(iso: string): string {
  const d = parseISO(iso);
  if (isToday(d)) return 'Today';
  if (isYesterday(d)) return 'Yesterday';
  return format(d, isSameYear(d, new Date()) ? 'EEEE, d MMMM' : 'd MMMM yyyy');
}

export function sameDay(a: string, b: string): boolean {
  return isSameDay(parseISO(a), parseISO(b));
}

export function lastSeen(iso: string | null): string {
  return iso ? `last seen ${formatDistanceToNow(parseISO(iso), { addSuffix: true })}` : 'offline';
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : [parts[0] ?? '?'];
  return letters.map((p) => [...(p ?? '')][0]?.toUpperCase() ?? '').join('') || '?';
}
