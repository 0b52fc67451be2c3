import type { Chat } from '@parley/contracts';
import { Link } from 'react-router-dom';
import { usePresenceStore } from '../messaging/presence-store';
import { Avatar } from './Avatar';
import { lastSeen } from './format';

export function ChatHeader({ chat, onOpenSettings }: { chat: Chat; onOpenSettings: () => void }) {
  const peerId = chat.kind === 'direct' ? (chat.peer?.id ?? null) : null;
  const presence = usePresenceStore((s) => (peerId ? s.byUser[peerId] : undefined));
  const subtitle =
    chat.kind === 'group'
      ? `${chat.memberCount} ${chat.memberCount === 1 ? 'member' : 'members'}`
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
      <Avatar name={chat.name} presenceUserId={peerId} />
      <div className="chat-header__text">
        <h1 className="chat-header__title" data-testid="chat-title">
          {chat.name}
        </h1>
        <p className="chat-header__subtitle muted" data-testid="chat-subtitle">
          {subtitle}
        </p>
      </div>
      {chat.kind === 'group' && (
        <button
          type="button"
          className="button button--ghost button--small"
          onClick={onOpenSettings}
          data-testid="group-settings-button"
        >
          Group settings
        </button>
      )}
    </header>
  );
}
