/**
 * The scrolling list of a chat's messages. Opens at the first unread message under a "New
 * messages" line (the page from there when more than a page is unread), else at the newest
 * page (or around a deep link's message, highlighted for a few seconds); loads older pages
 * at the top keeping the scroll position, newer ones at the bottom when the window stops
 * short of the newest, and marks the chat read while it is visible and scrolled to the bottom.
 */
import { type Chat, MESSAGE_PAGE_DEFAULT, type Message } from '@parley/contracts';
import {
  Fragment,
  type ReactNode,
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import { markRead } from '../messaging/actions';
import { isIncomingRequest } from '../messaging/chats-store';
import { useMembersStore } from '../messaging/members-store';
import { emptyChatMessages, maxSeq, useMessagesStore } from '../messaging/messages-store';
import {
  LoadError,
  loadAround,
  loadErrorMessage,
  loadFrom,
  loadLatest,
  loadNewer,
  loadOlder,
} from '../messaging/sync';
import { dayLabel, sameDay } from './format';
import { MessageItem, PendingItem, SystemLine } from './MessageItem';

const HIGHLIGHT_MS = 4_000;
/** Unread messages the newest page is sure to hold with some read ones above them. */
const UNREAD_IN_LATEST_PAGE = MESSAGE_PAGE_DEFAULT - 10;
const NEAR_EDGE_PX = 120;
const GROUP_GAP_MS = 5 * 60_000;

function subscribeVisibility(cb: () => void) {
  document.addEventListener('visibilitychange', cb);
  return () => document.removeEventListener('visibilitychange', cb);
}
export function useDocumentVisible(): boolean {
  return useSyncExternalStore(subscribeVisibility, () => document.visibilityState === 'visible');
}

type ScrollIntent =
  | { kind: 'stay' }
  | { kind: 'bottom' }
  | { kind: 'unread' }
  | { kind: 'message'; id: string }
  | { kind: 'keep'; height: number; top: number };

interface Props {
  chat: Chat;
  me: string;
  focusMessageId: string | null;
  onReply: (m: Message) => void;
  onEdit: (m: Message) => void;
}

export function MessageList({ chat, me, focusMessageId, onReply, onEdit }: Props) {
  const chatId = chat.id;
  const navigate = useNavigate();
  // Opened from a search result: its terms are marked in the focused message.
  const searchTerms = (useLocation().state as { searchTerms?: unknown } | null)?.searchTerms;
  const marks = Array.isArray(searchTerms)
    ? (searchTerms.filter((t) => typeof t === 'string') as string[])
    : undefined;
  const cm = useMessagesStore((s) => s.byChat[chatId]) ?? emptyChatMessages;
  const members = useMembersStore((s) => s.byChat[chatId]);
  const [loading, setLoading] = useState<'initial' | 'older' | 'newer' | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Something to know about the window shown (a deep link's message was not there).
  const [notice, setNotice] = useState<string | null>(null);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const [atBottom, setAtBottom] = useState(true);
  const scrollRef = useRef<HTMLDivElement>(null);
  const intent = useRef<ScrollIntent | null>(null);
  const atBottomRef = useRef(true);
  const busy = useRef(false);
  const readSent = useRef(0);
  const visible = useDocumentVisible();
  // The chat as it was when opened: where its unread messages began.
  const chatRef = useRef(chat);
  chatRef.current = chat;
  const [unreadFrom, setUnreadFrom] = useState<number | null>(null);

  const applyIntent = useCallback(() => {
    const el = scrollRef.current;
    const want = intent.current;
    if (!el || !want) return;
    if (want.kind === 'stay') {
      // A newer page goes below what is being read: nothing moves.
    } else if (want.kind === 'bottom') el.scrollTop = el.scrollHeight;
    else if (want.kind === 'keep') el.scrollTop = want.top + (el.scrollHeight - want.height);
    else if (want.kind === 'unread') {
      const line = el.querySelector<HTMLElement>('[data-testid="new-messages-divider"]');
      if (line?.scrollIntoView) line.scrollIntoView({ block: 'start' });
      else el.scrollTop = el.scrollHeight;
    } else {
      const node = el.querySelector<HTMLElement>(`[data-message-id="${want.id}"]`);
      if (!node) return;
      node.scrollIntoView?.({ block: 'center' });
    }
    intent.current = null;
  }, []);

  // Open at the newest page, or around the linked message.
  useEffect(() => {
    let cancelled = false;
    const current = useMessagesStore.getState().byChat[chatId];
    async function open() {
      if (focusMessageId) {
        intent.current = { kind: 'message', id: focusMessageId };
        if (!current?.byId[focusMessageId]) {
          setLoading('initial');
          let found = false;
          try {
            found = await loadAround(chatId, focusMessageId);
          } catch (err) {
            // Gone (deleted, expired) or never in this chat: the chat still opens.
            if (!(err instanceof LoadError && err.status === 404)) throw err;
          }
          if (!found && !cancelled) {
            setNotice('That message is not in this chat any more (deleted, or it disappeared).');
            intent.current = { kind: 'bottom' };
            await loadLatest(chatId);
          }
        }
        if (!cancelled) setHighlightId(focusMessageId);
      } else {
        const opened = chatRef.current;
        const firstUnread = opened.unreadCount > 0 ? opened.lastReadSeq + 1 : null;
        setUnreadFrom(firstUnread);
        intent.current = firstUnread ? { kind: 'unread' } : { kind: 'bottom' };
        if (firstUnread && opened.unreadCount > UNREAD_IN_LATEST_PAGE) {
          // More unread than the newest page holds: the page from the first unread on.
          setLoading('initial');
          await loadFrom(chatId, firstUnread - 1);
        } else if (!current?.loaded || current.hasMoreAfter) {
          setLoading('initial');
          await loadLatest(chatId);
        }
      }
    }
    setUnreadFrom(null);
    setError(null);
    setNotice(null);
    open()
      .catch((err) => {
        if (!cancelled) setError(loadErrorMessage(err));
      })
      .finally(() => {
        if (cancelled) return;
        setLoading(null);
        // The content may not have changed (already loaded): scroll now.
        requestAnimationFrame(applyIntent);
      });
    return () => {
      cancelled = true;
    };
  }, [chatId, focusMessageId, applyIntent]);

  useEffect(() => {
    if (!highlightId) return;
    const t = setTimeout(() => setHighlightId(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlightId]);

  const firstId = cm.order[0];
  const lastId = cm.order[cm.order.length - 1];
  const pendingCount = cm.pending.length;
  // After the content changed: follow an intent, keep the position, or stay at the bottom.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    if (intent.current) applyIntent();
    else if (atBottomRef.current) el.scrollTop = el.scrollHeight;
  }, [firstId, lastId, pendingCount, applyIntent]);

  const more = useCallback(
    async (direction: 'older' | 'newer') => {
      if (busy.current) return;
      const el = scrollRef.current;
      busy.current = true;
      setLoading(direction);
      if (direction === 'older' && el)
        intent.current = { kind: 'keep', height: el.scrollHeight, top: el.scrollTop };
      else intent.current = { kind: 'stay' };
      try {
        await (direction === 'older' ? loadOlder(chatId) : loadNewer(chatId));
      } catch (err) {
        intent.current = null;
        setError(loadErrorMessage(err));
      } finally {
        busy.current = false;
        setLoading(null);
      }
    },
    [chatId],
  );

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    atBottomRef.current = bottom;
    setAtBottom(bottom);
    if (loading === 'initial') return;
    if (el.scrollTop < NEAR_EDGE_PX && cm.hasMoreBefore) void more('older');
    else if (el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_EDGE_PX && cm.hasMoreAfter)
      void more('newer');
  };

  // Read up to the newest loaded message while the chat is open, visible and at the bottom.
  const newest = maxSeq(cm);
  // A request stays unread until accepted: the requester learns nothing before the answer.
  const mayRead = !isIncomingRequest(chat, me);
  useEffect(() => {
    if (
      !mayRead ||
      !visible ||
      !atBottom ||
      !cm.loaded ||
      cm.hasMoreAfter ||
      loading === 'initial' ||
      newest === 0
    )
      return;
    if (newest <= readSent.current) return;
    if (newest <= chat.lastReadSeq && chat.unreadCount === 0) return;
    readSent.current = newest;
    void markRead(chatId, newest);
  }, [
    mayRead,
    visible,
    atBottom,
    cm.loaded,
    cm.hasMoreAfter,
    loading,
    newest,
    chat.lastReadSeq,
    chat.unreadCount,
    chatId,
  ]);

  const jump = useCallback(
    (messageId: string) => {
      if (useMessagesStore.getState().byChat[chatId]?.byId[messageId] && messageId === focusMessageId) {
        intent.current = { kind: 'message', id: messageId };
        applyIntent();
        setHighlightId(null);
        requestAnimationFrame(() => setHighlightId(messageId));
        return;
      }
      navigate(`/chats/${chatId}/messages/${messageId}`);
    },
    [chatId, focusMessageId, navigate, applyIntent],
  );

  const toLatest = () => {
    if (focusMessageId) navigate(`/chats/${chatId}`);
    else if (cm.hasMoreAfter) {
      intent.current = { kind: 'bottom' };
      void loadLatest(chatId).catch((err) => setError(loadErrorMessage(err)));
    } else {
      intent.current = { kind: 'bottom' };
      applyIntent();
    }
  };

  const rows: ReactNode[] = [];
  let prev: Message | null = null;
  let dividerShown = false;
  for (const id of cm.order) {
    const m = cm.byId[id];
    if (!m) continue;
    const newDay = !prev || !sameDay(prev.createdAt, m.createdAt);
    const divider = unreadFrom !== null && !dividerShown && m.seq >= unreadFrom;
    if (divider) dividerShown = true;
    const showSender =
      chat.kind === 'group' &&
      (newDay ||
        !prev ||
        prev.kind === 'system' ||
        prev.senderId !== m.senderId ||
        Date.parse(m.createdAt) - Date.parse(prev.createdAt) > GROUP_GAP_MS);
    rows.push(
      <Fragment key={m.id}>
        {newDay && (
          <div className="day-separator" data-testid="day-separator">
            <span>{dayLabel(m.createdAt)}</span>
          </div>
        )}
        {divider && (
          <div className="unread-divider" data-testid="new-messages-divider" role="separator">
            <span>New messages</span>
          </div>
        )}
        {m.kind === 'system' ? (
          <SystemLine message={m} />
        ) : (
          <MessageItem
            message={m}
            chat={chat}
            me={me}
            members={members}
            showSender={showSender}
            highlight={m.id === highlightId}
            marks={m.id === focusMessageId ? marks : undefined}
            onReply={onReply}
            onEdit={onEdit}
            onJump={jump}
          />
        )}
      </Fragment>,
    );
    prev = m;
  }

  return (
    <div className="message-list-wrap">
      {notice && (
        <div className="message-list__notice" role="status" data-testid="message-list-notice">
          <span>{notice}</span>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => setNotice(null)}>
            ×
          </button>
        </div>
      )}
      <div
        className="message-list"
        ref={scrollRef}
        onScroll={onScroll}
        data-testid="message-list"
        data-loaded={cm.loaded}
        aria-busy={loading !== null}
        role="log"
        aria-label={`Messages in ${chat.name}`}
      >
        {cm.hasMoreBefore && (
          <div className="message-list__more">
            <button
              type="button"
              className="link-button"
              onClick={() => void more('older')}
              disabled={loading !== null}
              data-testid="load-older-button"
            >
              {loading === 'older' ? 'Loading…' : 'Load older messages'}
            </button>
          </div>
        )}
        {loading === 'initial' && cm.order.length === 0 && (
          <div className="message-list__status" role="status">
            <span className="spinner spinner--small" aria-hidden="true" /> Loading messages…
          </div>
        )}
        {error && (
          <p
            className="message-list__status form-message form-message--error"
            role="alert"
            data-testid="message-list-error"
          >
            {error}
          </p>
        )}
        {cm.loaded && cm.order.length === 0 && cm.pending.length === 0 && !error && (
          <p className="message-list__status muted" data-testid="message-list-empty">
            No messages yet. Say hello!
          </p>
        )}
        {rows}
        {!cm.hasMoreAfter &&
          cm.pending.map((p) => <PendingItem key={p.clientMsgId} pending={p} onJump={jump} />)}
        {cm.hasMoreAfter && (
          <div className="message-list__more">
            <button
              type="button"
              className="link-button"
              onClick={() => void more('newer')}
              disabled={loading !== null}
              data-testid="load-newer-button"
            >
              {loading === 'newer' ? 'Loading…' : 'Load newer messages'}
            </button>
          </div>
        )}
      </div>
      {(!atBottom || cm.hasMoreAfter) && cm.loaded && (
        <button type="button" className="jump-latest" onClick={toLatest} data-testid="jump-to-latest">
          ↓ Latest{chat.unreadCount > 0 ? ` (${chat.unreadCount})` : ''}
        </button>
      )}
    </div>
  );
}
