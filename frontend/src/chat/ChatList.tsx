import type { Chat } from '@parley/contracts';
import { useMemo, useState } from 'react';
import { NavLink } from 'react-router-dom';
import { useAuthStore } from '../auth/auth-store';
import { sortChats, useChatsStore } from '../messaging/chats-store';
import { requestResync } from '../messaging/session';
import { useTypingStore } from '../messaging/typing-store';
import { listTime } from './format';
import { Avatar } from './Avatar';
import { NewChatDialog } from './NewChatDialog';
import { NewGroupDialog } from './NewGroupDialog';
import { NotificationPrompt } from './NotificationPrompt';

export function ChatList({ activeChatId }: { activeChatId: string | null }) {
  const chats = useChatsStore((s) => s.chats);
  const loaded = useChatsStore((s) => s.loaded);
  const error = useChatsStore((s) => s.error);
  const sorted = useMemo(() => sortChats(chats), [chats]);
  const [dialog, setDialog] = useState<'chat' | 'group' | null>(null);

  return (
    <aside className="chat-sidebar" aria-label="Chats">
      <div className="chat-sidebar__header">
        <h2>Chats</h2>
        <div className="chat-sidebar__actions">
          <button
            type="button"
            className="button button--ghost button--small"
            onClick={() => setDialog('chat')}
            data-testid="new-chat-button"
          >
            New chat
          </button>
          <button
            type="button"
            className="button button--primary button--small"
            onClick={() => setDialog('group')}
            data-testid="new-group-button"
          >
            New group
          </button>
        </div>
      </div>
      <NotificationPrompt />
      {!loaded && error && (
        <div className="chat-sidebar__status" role="alert" data-testid="chat-list-error">
          <p>{error}</p>
          <button
            type="button"
            className="button button--ghost button--small"
            onClick={() => void requestResync()}
          >
            Try again
          </button>
        </div>
      )}
      {!loaded && !error && (
        <div className="chat-sidebar__status" role="status">
          <span className="spinner spinner--small" aria-hidden="true" />{' '}
          <span className="muted">Loading chats…</span>
        </div>
      )}
      {loaded && sorted.length === 0 && (
        <p className="chat-sidebar__status muted" data-testid="chat-list-empty">
          No conversations yet. Start one with “New chat”.
        </p>
      )}
      <ul className="chat-list" data-testid="chat-list">
        {sorted.map((chat) => (
          <ChatListItem key={chat.id} chat={chat} active={chat.id === activeChatId} />
        ))}
      </ul>
      {dialog === 'chat' && <NewChatDialog onClose={() => setDialog(null)} />}
      {dialog === 'group' && <NewGroupDialog onClose={() => setDialog(null)} />}
    </aside>
  );
}

function previewLine(chat: Chat, me: string | undefined): string {
  const last = chat.lastMessage;
  if (!last) return chat.kind === 'group' ? 'No messages yet' : 'Say hello';
  if (last.deleted) return 'This message was deleted';
  if (last.kind === 'system') return last.text;
  if (last.senderId === me) return `You: ${last.text}`;
  if (chat.kind === 'group' && last.senderName) return `${last.senderName}: ${last.text}`;
  return last.text;
}

function ChatListItem({ chat, active }: { chat: Chat; active: boolean }) {
  const me = useAuthStore((s) => s.user?.id);
  const typing = useTypingStore((s) => Object.keys(s.byChat[chat.id] ?? {}).length > 0);
  return (
    <li>
      <NavLink
        to={`/chats/${chat.id}`}
        className={`chat-list-item${active ? ' chat-list-item--active' : ''}${chat.unreadCount > 0 ? ' chat-list-item--unread' : ''}`}
        data-testid="chat-list-item"
        data-chat-id={chat.id}
        data-unread={chat.unreadCount}
        aria-current={active ? 'page' : undefined}
      >
        <Avatar name={chat.name} presenceUserId={chat.kind === 'direct' ? (chat.peer?.id ?? null) : null} />
        <span className="chat-list-item__main">
          <span className="chat-list-item__top">
            <span className="chat-list-item__name" data-testid="chat-list-item-name">
              {chat.name}
            </span>
            <time className="chat-list-item__time" dateTime={chat.lastActivityAt}>
              {listTime(chat.lastMessage?.createdAt ?? chat.lastActivityAt)}
            </time>
          </span>
          <span className="chat-list-item__bottom">
            <span className="chat-list-item__preview" data-testid="chat-list-item-preview">
              {typing ? <em className="typing-text">typing…</em> : previewLine(chat, me)}
            </span>
            {chat.unreadCount > 0 && (
              <span
                className="unread-badge"
                data-testid="unread-badge"
                aria-label={`${chat.unreadCount} unread`}
              >
                {chat.unreadCount > 99 ? '99+' : chat.unreadCount}
              </span>
            )}
          </span>
        </span>
      </NavLink>
    </li>
  );
}
