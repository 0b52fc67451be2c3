import { type Chat, ttlLabel } from '@parley/contracts';
import { useSearchStore } from '../search/search-store';
import { Link } from 'react-router-dom';
import { useIsMuted } from './use-muted';
import { usePresenceStore } from '../messaging/presence-store';
import { useContactsStore } from '../people/contacts-store';
import { Avatar } from './Avatar';
import { ChatMenu, mutedText } from './ChatMenu';
import { lastSeen } from './format';
import { GearIcon, MutedIcon, SearchIcon, TimerIcon } from './Icons';

export function ChatHeader({
  chat,
  onOpenSettings,
  onOpenMedia,
}: {
  chat: Chat;
  onOpenSettings: () => void;
  /** Opens the chat's media and files. */
  onOpenMedia?: () => void;
}) {
  const peerId = chat.kind === 'direct' ? (chat.peer?.id ?? null) : null;
  const presence = usePresenceStore((s) => (peerId ? s.byUser[peerId] : undefined));
  const blocked = useContactsStore((s) => (peerId ? Boolean(s.blocked[peerId]) : false));
  const muted = useIsMuted(chat.preferences);
  const subtitle =
    chat.kind === 'group'
      ? `${chat.memberCount} ${chat.memberCount === 1 ? 'member' : 'members'}`
      : blocked
        ? 'Blocked'
        : presence?.online
          ? 'online'
          : presence
            ? lastSeen(presence.lastSeenAt)
            : chat.peer
              ? `@${chat.peer.username}`
              : '';
  return (
    <header className="chat-header">
      <Link to="/" className="chat-header__back" aria-label="Back to chats" data-testid="back-to-chats">
        ‹
      </Link>
      <Avatar name={chat.name} presenceUserId={blocked ? null : peerId} />
      <div className="chat-header__text">
        <h1 className="chat-header__title" data-testid="chat-title">
          {peerId ? (
            <Link to={`/users/${peerId}`} className="chat-header__title-link" data-testid="chat-title-link">
              {chat.name}
            </Link>
          ) : (
            chat.name
          )}
        </h1>
        <p className="chat-header__subtitle muted">
          <span data-testid="chat-subtitle">{subtitle}</span>
          {chat.messageTtlSeconds !== null && (
            <span
              className="chat-header__flag"
              title={`Disappearing messages: new messages are erased after ${ttlLabel(chat.messageTtlSeconds)}`}
              data-testid="chat-ttl"
            >
              <TimerIcon /> {ttlLabel(chat.messageTtlSeconds)}
            </span>
          )}
          {muted && (
            <span
              className="chat-header__flag"
              title={mutedText(chat.preferences.mutedUntil)}
              data-testid="chat-muted"
            >
              <MutedIcon /> Muted
            </span>
          )}
        </p>
      </div>
      <button
        type="button"
        className="icon-button chat-header__search"
        aria-label="Search in this chat"
        title="Search in this chat"
        onClick={() => useSearchStore.getState().openSearch({ chatId: chat.id, title: chat.name })}
        data-testid="search-in-chat"
      >
        <SearchIcon />
      </button>
      {chat.kind === 'group' && (
        // In a narrow header only the icon shows, so the group's name keeps the room.
        <button
          type="button"
          className="button button--ghost button--small chat-header__settings"
          onClick={onOpenSettings}
          aria-label="Group settings"
          title="Group settings"
          data-testid="group-settings-button"
        >
          <GearIcon />
          <span className="chat-header__settings-label">Group settings</span>
        </button>
      )}
      <ChatMenu chat={chat} {...(onOpenMedia ? { onOpenMedia } : {})} />
    </header>
  );
}
