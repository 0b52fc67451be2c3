/**
 * The scrolling list of a chat's messages. Opens at the first unread message under a "New
 * messages" line (the page from there when more than a page is unread), else at the newest
 * page (or around a deep link's message, highlighted for a few seconds); loads older pages
 * at the top keeping the scroll position, newer ones at the bottom when the window stops
 * short of the newest, and marks the chat read while it is visible and scrolled to the bottom.
 *
 * Virtualised (react-virtuoso): only the rows near the viewport are in the DOM. Rows are
 * memoised on their message and a few flags, so a new message renders its own row and no
 * other. Older pages come in above with `firstItemIndex` lowered by their length, which
 * keeps what is being read in place; where the list lands (first unread, a linked message,
 * the newest) is the `initialTopMostItemIndex` of a fresh mount.
 */
import { type Chat, MESSAGE_PAGE_DEFAULT, type Message } from '@parley/contracts';
import { memo, useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import { type IndexLocationWithAlign, Virtuoso, type VirtuosoHandle } from 'react-virtuoso';
import { markRead } from '../messaging/actions';
import { isIncomingRequest } from '../messaging/chats-store';
import { type MemberMap, useMembersStore } from '../messaging/members-store';
import {
  type PendingMessage,
  emptyChatMessages,
  maxSeq,
  useMessagesStore,
} from '../messaging/messages-store';
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
/** Where firstItemIndex starts: room for the pages that come in above (it only goes down). */
const FIRST_INDEX = 1_000_000_000;
const AT_BOTTOM_PX = 48;
/** How long the list must stay at the bottom after a landing elsewhere before it follows new messages. */
const SETTLED_AT_BOTTOM_MS = 500;
const GROUP_GAP_MS = 5 * 60_000;

function subscribeVisibility(cb: () => void) {
  document.addEventListener('visibilitychange', cb);
  return () => document.removeEventListener('visibilitychange', cb);
}
export function useDocumentVisible(): boolean {
  return useSyncExternalStore(subscribeVisibility, () => document.visibilityState === 'visible');
}

/** Where a fresh mount of the list lands. */
type Landing = { kind: 'bottom' } | { kind: 'unread' } | { kind: 'message'; id: string };

const NO_ROWS: Row[] = [];

type Row =
  | {
      kind: 'message';
      key: string;
      message: Message;
      newDay: boolean;
      divider: boolean;
      showSender: boolean;
    }
  | { kind: 'pending'; key: string; pending: PendingMessage };

interface Props {
  chat: Chat;
  me: string;
  focusMessageId: string | null;
  onReply: (m: Message) => void;
  onEdit: (m: Message) => void;
}

interface RowProps {
  message: Message;
  newDay: boolean;
  divider: boolean;
  showSender: boolean;
  chat: Pick<Chat, 'id' | 'kind' | 'myRole'>;
  me: string;
  members: MemberMap | undefined;
  highlight: boolean;
  marks: readonly string[] | undefined;
  onReply: (m: Message) => void;
  onEdit: (m: Message) => void;
  onJump: (messageId: string) => void;
}

/** One message with the day line and the "New messages" line above it, when they go there. */
const MessageRow = memo(function MessageRow({ message: m, newDay, divider, ...item }: RowProps) {
  return (
    <div className="message-row">
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
      {m.kind === 'system' ? <SystemLine message={m} /> : <MessageItem message={m} {...item} />}
    </div>
  );
});

const PendingRow = memo(function PendingRow({
  pending,
  onJump,
}: {
  pending: PendingMessage;
  onJump: (id: string) => void;
}) {
  return (
    <div className="message-row">
      <PendingItem pending={pending} onJump={onJump} />
    </div>
  );
});

/** What the list's header and footer (inside the scroller, above and below the rows) show. */
interface ListContext {
  hasMoreBefore: boolean;
  hasMoreAfter: boolean;
  loading: 'initial' | 'older' | 'newer' | null;
  empty: boolean;
  loaded: boolean;
  error: string | null;
  more: (direction: 'older' | 'newer') => void;
}

/** "Load older/newer messages" at an end of the loaded window. */
function MoreButton({ context: c, direction }: { context: ListContext; direction: 'older' | 'newer' }) {
  return (
    <div className="message-list__more">
      <button
        type="button"
        className="link-button"
        onClick={() => c.more(direction)}
        disabled={c.loading !== null}
        data-testid={`load-${direction}-button`}
      >
        {c.loading === direction ? 'Loading…' : `Load ${direction} messages`}
      </button>
    </div>
  );
}

function ListHeader({ context: c }: { context: ListContext }) {
  return (
    <div className="message-list__edge message-list__edge--top">
      {c.hasMoreBefore && <MoreButton context={c} direction="older" />}
      {c.loading === 'initial' && c.empty && (
        <div className="message-list__status" role="status">
          <span className="spinner spinner--small" aria-hidden="true" /> Loading messages…
        </div>
      )}
      {c.error && (
        <p
          className="message-list__status form-message form-message--error"
          role="alert"
          data-testid="message-list-error"
        >
          {c.error}
        </p>
      )}
      {c.loaded && c.empty && !c.error && (
        <p className="message-list__status muted" data-testid="message-list-empty">
          No messages yet. Say hello!
        </p>
      )}
    </div>
  );
}

function ListFooter({ context: c }: { context: ListContext }) {
  return (
    <div className="message-list__edge message-list__edge--bottom">
      {c.hasMoreAfter && <MoreButton context={c} direction="newer" />}
    </div>
  );
}

const listComponents = { Header: ListHeader, Footer: ListFooter };
const followAtBottom = (atBottom: boolean) => (atBottom ? 'auto' : false);

export function MessageList({ chat, me, focusMessageId, onReply, onEdit }: Props) {
  const chatId = chat.id;
  const navigate = useNavigate();
  // Opened from a search result: its terms are marked in the focused message.
  const locationState = useLocation().state as { searchTerms?: unknown } | null;
  const marks = useMemo(() => {
    const terms = locationState?.searchTerms;
    return Array.isArray(terms) ? (terms.filter((t) => typeof t === 'string') as string[]) : undefined;
  }, [locationState]);
  const cm = useMessagesStore((s) => s.byChat[chatId]) ?? emptyChatMessages;
  const members = useMembersStore((s) => s.byChat[chatId]);
  // The rows need only these of the chat, which do not change with every new message.
  const rowChat = useMemo(
    () => ({ id: chat.id, kind: chat.kind, myRole: chat.myRole }),
    [chat.id, chat.kind, chat.myRole],
  );
  const [loading, setLoading] = useState<'initial' | 'older' | 'newer' | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Something to know about the window shown (a deep link's message was not there).
  const [notice, setNotice] = useState<string | null>(null);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const [atBottom, setAtBottom] = useState(true);
  // Each landing mounts the list afresh at its place (count = the mount's key); until the
  // chat (or linked message) just opened has landed, no rows show: none that would move.
  const opening = `${chatId}:${focusMessageId ?? ''}`;
  const [landing, setLanding] = useState<{ count: number; to: Landing; opened: string | null }>({
    count: 0,
    to: { kind: 'bottom' },
    opened: null,
  });
  const virtuoso = useRef<VirtuosoHandle>(null);
  const busy = useRef(false);
  // Pages load on reaching an end only once the reader has scrolled there (wheel, touch,
  // keys, the scrollbar), not when the list itself moved (landing, a page coming in).
  const scrolled = useRef(false);
  // Whether new messages and growing rows may pull the list down to its newest end. Not
  // after landing at the first unread or a linked message until the reader moves or the
  // list has stayed at the bottom a while: the list (react-virtuoso) scrolls to the bottom
  // whenever its content grows while following is on and it had briefly counted itself at
  // the bottom, which a list still measuring its rows does, and the landing would be lost
  // (seen under load: the "New messages" line gone).
  const [follow, setFollow] = useState(false);
  const scroller = useRef<HTMLElement | null>(null);
  const byReader = useCallback(() => {
    scrolled.current = true;
    setFollow(true);
  }, []);
  const onScrollerRef = useCallback(
    (el: HTMLElement | Window | null) => {
      const events = ['wheel', 'touchmove', 'keydown', 'pointerdown'] as const;
      for (const type of events) scroller.current?.removeEventListener(type, byReader);
      scroller.current = el instanceof HTMLElement ? el : null;
      for (const type of events) scroller.current?.addEventListener(type, byReader, { passive: true });
    },
    [byReader],
  );
  const readSent = useRef(0);
  const visible = useDocumentVisible();
  // The chat as it was when opened: where its unread messages began.
  const chatRef = useRef(chat);
  chatRef.current = chat;
  const [unreadFrom, setUnreadFrom] = useState<number | null>(null);

  const land = useCallback((to: Landing, opened: string) => {
    scrolled.current = false;
    setFollow(to.kind === 'bottom');
    setAtBottom(to.kind === 'bottom');
    setLanding((l) => ({ count: l.count + 1, to, opened }));
  }, []);

  // Open at the newest page, or around the linked message.
  useEffect(() => {
    let cancelled = false;
    const current = useMessagesStore.getState().byChat[chatId];
    let to: Landing = { kind: 'bottom' };
    async function open() {
      if (focusMessageId) {
        to = { kind: 'message', id: focusMessageId };
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
            to = { kind: 'bottom' };
            await loadLatest(chatId);
          }
        }
        if (!cancelled) setHighlightId(focusMessageId);
      } else {
        const opened = chatRef.current;
        const firstUnread = opened.unreadCount > 0 ? opened.lastReadSeq + 1 : null;
        setUnreadFrom(firstUnread);
        to = firstUnread ? { kind: 'unread' } : { kind: 'bottom' };
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
        land(to, `${chatId}:${focusMessageId ?? ''}`);
      });
    return () => {
      cancelled = true;
    };
  }, [chatId, focusMessageId, land]);

  useEffect(() => {
    if (!highlightId) return;
    const t = setTimeout(() => setHighlightId(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlightId]);

  // The rows: each message with the lines that go above it, then my sends on their way.
  const rows = useMemo(() => {
    const out: Row[] = [];
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
      out.push({ kind: 'message', key: m.id, message: m, newDay, divider, showSender });
      prev = m;
    }
    if (!cm.hasMoreAfter)
      for (const p of cm.pending) out.push({ kind: 'pending', key: `pending:${p.clientMsgId}`, pending: p });
    return out;
  }, [cm.order, cm.byId, cm.pending, cm.hasMoreAfter, unreadFrom, chat.kind]);
  const shown = landing.opened === opening ? rows : NO_ROWS;

  // firstItemIndex goes down by as many rows as came in above the previous first one, and
  // up by as many as went away there (a far page evicted), so the rows in view keep their
  // place. A window replaced as a whole keeps the index: nothing there to hold still.
  const previous = useRef<{ rows: Row[]; first: number; mount: number }>({
    rows: [],
    first: FIRST_INDEX,
    mount: -1,
  });
  let firstItemIndex = previous.current.first;
  if (previous.current.mount !== landing.count) firstItemIndex = FIRST_INDEX;
  else if (previous.current.rows !== rows) {
    const before = previous.current.rows[0]?.key;
    const now = rows[0]?.key;
    if (before !== undefined && now !== undefined && before !== now) {
      const cameIn = rows.findIndex((r) => r.key === before);
      const wentAway = cameIn < 0 ? previous.current.rows.findIndex((r) => r.key === now) : -1;
      if (cameIn > 0) firstItemIndex -= cameIn;
      else if (wentAway > 0) firstItemIndex += wentAway;
    }
  }
  previous.current = { rows, first: firstItemIndex, mount: landing.count };
  const rowsRef = useRef(rows);
  rowsRef.current = rows;

  // Where this mount opens; read by the list only when it mounts.
  const initialIndex = useMemo((): IndexLocationWithAlign => {
    const to = landing.to;
    const at = (pred: (r: Row) => boolean) => rowsRef.current.findIndex(pred);
    if (to.kind === 'unread') {
      const i = at((r) => r.kind === 'message' && r.divider);
      if (i >= 0) return { index: i, align: 'start' };
    } else if (to.kind === 'message') {
      const i = at((r) => r.key === to.id);
      if (i >= 0) return { index: i, align: 'center' };
    }
    // The newest row at the top, which the scroller's end holds back to the bottom (as
    // react-virtuoso's chat examples do: 'end' waits forever for a list shorter than the view).
    return { index: Math.max(0, rowsRef.current.length - 1), align: 'start' };
  }, [landing]);

  const cmRef = useRef(cm);
  cmRef.current = cm;
  const more = useCallback(
    async (direction: 'older' | 'newer') => {
      if (busy.current) return;
      const current = cmRef.current;
      if (!current.loaded || !(direction === 'older' ? current.hasMoreBefore : current.hasMoreAfter)) return;
      busy.current = true;
      setLoading(direction);
      try {
        await (direction === 'older' ? loadOlder(chatId) : loadNewer(chatId));
      } catch (err) {
        setError(loadErrorMessage(err));
      } finally {
        busy.current = false;
        setLoading(null);
      }
    },
    [chatId],
  );

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
        const index = rowsRef.current.findIndex((r) => r.key === messageId);
        if (index >= 0) virtuoso.current?.scrollToIndex({ index, align: 'center' });
        setHighlightId(null);
        requestAnimationFrame(() => setHighlightId(messageId));
        return;
      }
      navigate(`/chats/${chatId}/messages/${messageId}`);
    },
    [chatId, focusMessageId, navigate],
  );

  // Landed above the newest messages, but they all fit below: follow what comes next.
  useEffect(() => {
    if (follow || !atBottom) return;
    const t = setTimeout(() => setFollow(true), SETTLED_AT_BOTTOM_MS);
    return () => clearTimeout(t);
  }, [follow, atBottom]);

  // My message sent from a window that stops short of the newest (scrolled far up, older
  // pages in and the newest ones evicted): to the newest, where it shows.
  const sentFromAfar = cm.hasMoreAfter && cm.pending.length > 0 && !focusMessageId;
  useEffect(() => {
    if (!sentFromAfar) return;
    loadLatest(chatId).then(
      () => land({ kind: 'bottom' }, opening),
      (err) => setError(loadErrorMessage(err)),
    );
  }, [sentFromAfar, chatId, land, opening]);

  // My own new message: down to it, wherever the list was (as followOutput does at the bottom).
  const pendingCount = cm.hasMoreAfter ? 0 : cm.pending.length;
  const pendingBefore = useRef(pendingCount);
  useEffect(() => {
    const grew = pendingCount > pendingBefore.current;
    pendingBefore.current = pendingCount;
    if (!grew) return;
    setFollow(true);
    virtuoso.current?.scrollToIndex({ index: 'LAST', align: 'end' });
  }, [pendingCount]);

  const toLatest = () => {
    if (focusMessageId) navigate(`/chats/${chatId}`);
    else if (cm.hasMoreAfter) {
      loadLatest(chatId).then(
        () => land({ kind: 'bottom' }, opening),
        (err) => setError(loadErrorMessage(err)),
      );
    } else {
      setFollow(true);
      virtuoso.current?.scrollToIndex({ index: 'LAST', align: 'end' });
    }
  };

  const itemContent = useCallback(
    (_: number, row: Row) =>
      row.kind === 'pending' ? (
        <PendingRow pending={row.pending} onJump={jump} />
      ) : (
        <MessageRow
          message={row.message}
          newDay={row.newDay}
          divider={row.divider}
          showSender={row.showSender}
          chat={rowChat}
          me={me}
          members={members}
          highlight={row.key === highlightId}
          marks={row.key === focusMessageId ? marks : undefined}
          onReply={onReply}
          onEdit={onEdit}
          onJump={jump}
        />
      ),
    [jump, rowChat, me, members, highlightId, focusMessageId, marks, onReply, onEdit],
  );

  const context = useMemo(
    (): ListContext => ({
      hasMoreBefore: cm.hasMoreBefore,
      hasMoreAfter: cm.hasMoreAfter,
      loading,
      empty: cm.order.length === 0 && cm.pending.length === 0,
      loaded: cm.loaded,
      error,
      more: (direction) => void more(direction),
    }),
    [cm.hasMoreBefore, cm.hasMoreAfter, cm.order.length, cm.pending.length, cm.loaded, loading, error, more],
  );

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
        data-testid="message-list"
        data-loaded={cm.loaded}
        aria-busy={loading !== null}
        role="log"
        aria-label={`Messages in ${chat.name}`}
      >
        <Virtuoso
          key={`${chatId}:${landing.count}`}
          ref={virtuoso}
          className="message-list__scroller"
          data={shown}
          context={context}
          components={listComponents}
          computeItemKey={(_, row) => row.key}
          itemContent={itemContent}
          firstItemIndex={firstItemIndex}
          initialTopMostItemIndex={initialIndex}
          alignToBottom
          followOutput={follow && !cm.hasMoreAfter ? followAtBottom : false}
          atBottomThreshold={AT_BOTTOM_PX}
          atBottomStateChange={setAtBottom}
          scrollerRef={onScrollerRef}
          startReached={() => {
            if (scrolled.current && loading !== 'initial') void more('older');
          }}
          endReached={() => {
            if (scrolled.current && loading !== 'initial') void more('newer');
          }}
          increaseViewportBy={{ top: 400, bottom: 400 }}
        />
      </div>
      {(!atBottom || cm.hasMoreAfter) && cm.loaded && (
        <button type="button" className="jump-latest" onClick={toLatest} data-testid="jump-to-latest">
          ↓ Latest{chat.unreadCount > 0 ? ` (${chat.unreadCount})` : ''}
        </button>
      )}
    </div>
  );
}
