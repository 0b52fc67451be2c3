/** Plain sentences for system messages and previews, with names as they were at the time. */
import type { SystemEvent } from '@parley/contracts';

const PREVIEW_LENGTH = 140;

/** The chat list's preview of a text: one line, at most 140 characters (as the server cuts it). */
export function previewText(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > PREVIEW_LENGTH ? `${flat.slice(0, PREVIEW_LENGTH - 1)}…` : flat;
}

/** "Ana", "Ana and Ben", "Ana, Ben and Cy", "Ana, Ben and 2 others". */
export function nameList(names: string[]): string {
  if (names.length <= 1) return names.join('');
  if (names.length > 3) return `${names.slice(0, 2).join(', ')} and ${names.length - 2} others`;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

export function systemText(event: SystemEvent): string {
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
  }
}
