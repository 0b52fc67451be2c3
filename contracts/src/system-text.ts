/**
 * Plain-text renderings shared by server and web app, so the chat list reads the same
 * whoever builds it: message previews, name lists, and system lines.
 */
import type { SystemEvent } from './rest/messages.js';

export const PREVIEW_LENGTH = 140;

/** One line of at most 140 characters, for chat-list previews and reply quotes. */
export function previewText(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > PREVIEW_LENGTH ? `${flat.slice(0, PREVIEW_LENGTH - 1)}…` : flat;
}

/**
 * A chat-list line for a message: its text, or — when it is only attachments — what they
 * are ("📷 Photo", "🎬 Video", "🎤 Voice message", "📎 report.pdf", "📷 3 photos").
 */
export function messagePreviewText(
  body: string,
  attachments: readonly { kind: 'image' | 'voice' | 'video' | 'file'; name: string }[],
): string {
  const text = previewText(body);
  if (text || attachments.length === 0) return text;
  const kinds = new Set(attachments.map((a) => a.kind));
  const n = attachments.length;
  if (kinds.size === 1) {
    const first = attachments[0]!;
    switch (first.kind) {
      case 'image':
        return n === 1 ? '📷 Photo' : `📷 ${n} photos`;
      case 'video':
        return n === 1 ? '🎬 Video' : `🎬 ${n} videos`;
      case 'voice':
        return '🎤 Voice message';
      case 'file':
        return n === 1 ? previewText(`📎 ${first.name}`) : `📎 ${n} files`;
    }
  }
  return `📎 ${n} attachments`;
}

/** "Ana", "Ana and Ben", "Ana, Ben and Cy", "Ana, Ben and 2 others". */
export function nameList(names: string[]): string {
  if (names.length <= 1) return names.join('');
  if (names.length > 3) return `${names.slice(0, 2).join(', ')} and ${names.length - 2} others`;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** "1 hour", "1 day", "7 days", "90 days". */
export function ttlLabel(seconds: number): string {
  if (seconds % 86_400 === 0) {
    const days = seconds / 86_400;
    return days === 1 ? '1 day' : `${days} days`;
  }
  const hours = Math.round(seconds / 3600);
  return hours === 1 ? '1 hour' : `${hours} hours`;
}

/** One sentence for a system message ("Ana added Ben and Cy"), with names as they were. */
export function systemEventText(event: SystemEvent): string {
  const name = (id: string | null) => (id ? (event.names[id] ?? 'Someone') : 'Someone');
  const list = (ids: string[]) => nameList(ids.map(name));
  const actor = name(event.actorId);
  switch (event.action) {
    case 'group_created':
      return `${actor} created the group "${event.value ?? ''}"`;
    case 'member_added':
      return `${actor} added ${list(event.userIds)}`;
    case 'member_removed':
      return `${actor} removed ${list(event.userIds)}`;
    case 'member_left':
      return `${list(event.userIds.length ? event.userIds : event.actorId ? [event.actorId] : [])} left`;
    case 'renamed':
      return `${actor} renamed the group to "${event.value ?? ''}"`;
    case 'role_changed':
      return event.value === 'admin'
        ? `${actor} made ${list(event.userIds)} an admin`
        : `${actor} made ${list(event.userIds)} a member`;
    case 'ownership_transferred':
      return `${actor} made ${list(event.userIds)} the owner`;
    case 'ttl_changed':
      return event.value
        ? `${actor} turned on disappearing messages (${ttlLabel(Number(event.value))})`
        : `${actor} turned off disappearing messages`;
  }
}
