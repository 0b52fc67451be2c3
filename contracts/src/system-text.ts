import type { SystemEvent } from './rest/messages.js';

/** One plain sentence for a system message ("Ana added Ben and Cy"), for previews and lists. */
export function systemEventText(event: SystemEvent): string {
  const name = (id: string | null) => (id ? (event.names[id] ?? 'Someone') : 'Someone');
  const list = (ids: string[]) => {
    const names = ids.map(name);
    if (names.length <= 1) return names.join('');
    if (names.length > 3) return `${names.slice(0, 2).join(', ')} and ${names.length - 2} others`;
    return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  };
  const actor = name(event.actorId);
  switch (event.action) {
    case 'group_created':
      return `${actor} created the group "${event.value ?? ''}"`;
    case 'member_added':
      return `${actor} added ${list(event.userIds)}`;
    case 'member_removed':
      return `${actor} removed ${list(event.userIds)}`;
    case 'member_left':
      return `${list(event.userIds)} left`;
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
