import type { Chat } from '@parley/contracts';
import { Suspense, lazy, useEffect, useMemo, useState } from 'react';
import { NavLink } from 'react-router-dom';
import { create } from 'zustand';
import { useAuthStore } from '../auth/auth-store';
import { type ChatFolder, chatFolder, sortChats, useChatsStore } from '../messaging/chats-store';
import { useIsMuted } from './use-muted';
import { requestResync } from '../messaging/session';
import { useTypingStore } from '../messaging/typing-store';
import { useContactsStore } from '../people/contacts-store';
import { listTime } from './format';
import { MutedIcon } from './Icons';
import { Avatar } from './Avatar';

// The dialogs' code (and Radix's) loads when one is first opened.
const NewChatDialog = lazy(() => import('./NewChatDialog').then((m) => ({ default: m.NewChatDialog })));
const NewGroupDialog = lazy(() => import('./NewGroupDialog').then((m) => ({ default: m.NewGroupDialog })));

type ListView = Exclude<ChatFolder, 'hidden'>;

/** Which list the sidebar shows; kept while chats open and close (not across reloads). */
export const useChatListView = create<{ view: ListView }>()(() => ({ view: 'main' }));
export const showChatList = (view: ListView) => useChatListView.setState({ view });

const emptyTexts: Record<ListView, string> = {
  main: 'No conversations yet. Start one with “New chat”.',
  requests: 'No chat requests.',
  archived: 'No archived chats.',
};
import { NotificationPrompt } from './NotificationPrompt';
import { plainText } from './plain-text';

export function ChatList({ activeChatId }: { activeChatId: string | null }) {
  const chats = useChatsStore((s) => s.chats);
  const loaded = useChatsStore((s) => s.loaded);
  const error = useChatsStore((s) => s.error);
  const me = useAuthStore((s) => s.user?.id ?? '');
  const blocked = useContactsStore((s) => s.blocked);
  const view = useChatListView((s) => s.view);
  const folders = useMemo(() => {
    const out: Record<ListView, Chat[]> = { main: [], archived: [], requests: [] };
    for (const chat of sortChats(chats)) {
      const folder = chatFolder(chat, me);
      // Requests from people I blocked wait out of sight (they come back if I unblock).
      if (folder === 'hidden' || (folder === 'requests' && chat.peer && blocked[chat.peer.id])) continue;
      out[folder].push(chat);
    }
    return out;
  }, [chats, me, blocked]);
  const [dialog, setDialog] = useState<'chat' | 'group' | null>(null);
  const sorted = folders[view];
  const requestCount = folders.requests.length;
  // Archived chats with something unread (the tab is there whenever any chat is archived).
  const archivedUnread = folders.archived.filter((c) => c.unreadCount > 0).length;
  // An emptied Requests or Archived list goes back to the chats.
  useEffect(() => {
    if (loaded && view !== 'main' && sorted.length === 0) showChatList('main');
  }, [loaded, view, sorted.length]);
  const tabs: { view: ListView; label: string; count: number }[] = [
    { view: 'main', label: 'Chats', count: 0 },
    ...(requestCount > 0 || view === 'requests'
      ? [{ view: 'requests' as const, label: 'Requests', count: requestCount }]
      : []),
    ...(folders.archived.length > 0 || view === 'archived'
      ? [{ view: 'archived' as const, label: 'Archived', count: archivedUnread }]
      : []),
  ];

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
      {tabs.length > 1 && (
        <div className="chat-tabs" role="tablist" aria-label="Lists">
          {tabs.map((t) => (
            <button
              key={t.view}
              type="button"
              role="tab"
              aria-selected={view === t.view}
              className={`chat-tabs__tab${view === t.view ? ' chat-tabs__tab--active' : ''}`}
              onClick={() => showChatList(t.view)}
              data-testid={`chat-tab-${t.view}`}
            >
              {t.label}
              {t.count > 0 && (
                <span className="chat-tabs__count" data-testid={`chat-tab-${t.view}-count`}>
                  {t.count}
                </span>
              )}
            </button>
          ))}
        </div>
      )}
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
          {emptyTexts[view]}
        </p>
      )}
      {view === 'requests' && sorted.length > 0 && (
        <p className="chat-sidebar__hint muted">
          People you have no contact with. They won’t know you’ve seen their messages until you accept.
        </p>
      )}
      <ul className="chat-list" data-testid="chat-list" data-view={view}>
        {sorted.map((chat) => (
          <ChatListItem key={chat.id} chat={chat} active={chat.id === activeChatId} />
        ))}
      </ul>
      <Suspense fallback={null}>
        {dialog === 'chat' && <NewChatDialog onClose={() => setDialog(null)} />}
        {dialog === 'group' && <NewGroupDialog onClose={() => setDialog(null)} />}
      </Suspense>
    </aside>
  );
}

function previewLine(chat: Chat, me: string | undefined): string {
  const last = chat.lastMessage;
  if (!last) return chat.kind === 'group' ? 'No messages yet' : 'Say hello';
  if (last.deleted) return 'This message was deleted';
  if (last.kind === 'system') return last.text;
  const text = plainText(last.text);
  if (last.senderId === me) return `You: ${text}`;
  if (chat.kind === 'group' && last.senderName) return `${last.senderName}: ${text}`;
  return text;
}

function ChatListItem({ chat, active }: { chat: Chat; active: boolean }) {
  const me = useAuthStore((s) => s.user?.id);
  const typing = useTypingStore((s) => Object.keys(s.byChat[chat.id] ?? {}).length > 0);
  const muted = useIsMuted(chat.preferences);
  return (
    <li>
      <NavLink
        to={`/chats/${chat.id}`}
        className={`chat-list-item${active ? ' chat-list-item--active' : ''}${chat.unreadCount > 0 ? ' chat-list-item--unread' : ''}${muted ? ' chat-list-item--muted' : ''}`}
        data-testid="chat-list-item"
        data-chat-id={chat.id}
        data-unread={chat.unreadCount}
        data-muted={muted}
        aria-current={active ? 'page' : undefined}
      >
        <Avatar name={chat.name} presenceUserId={chat.kind === 'direct' ? (chat.peer?.id ?? null) : null} />
        <span className="chat-list-item__main">
          <span className="chat-list-item__top">
            <span className="chat-list-item__name" data-testid="chat-list-item-name">
              {chat.name}
            </span>
            {muted && (
              <span
                className="chat-list-item__muted"
                title="Muted"
                aria-label="Muted"
                data-testid="muted-icon"
              >
                <MutedIcon />
              </span>
            )}
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
                className={`unread-badge${muted ? ' unread-badge--muted' : ''}`}
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
