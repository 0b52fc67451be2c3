/**
 * The header search: a field (Ctrl/⌘+K focuses it) and a panel of results grouped by chat,
 * with highlighted snippets. Arrow keys move through operator suggestions and results;
 * Enter opens the chat at the message (the deep link), where the match is marked.
 * `from:` suggests people, `in:` suggests chats; an empty field lists the operators.
 * Three tabs: messages by their text, files by their names, or pictures by what they show
 * (the text read in them and the objects seen; each hit with its thumbnail and the match). When nothing matched as typed,
 * the server answers with similar words (typos) and the panel says so.
 */
import type { Chat, MessageHit, PublicUser } from '@parley/contracts';
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { useDismiss } from '../chat/use-dismiss';
import { useChatsStore } from '../messaging/chats-store';
import { humanSize } from '../media/format';
import { HighlightedText } from './HighlightedText';
import { OPERATOR_HINTS, operatorBeingTyped, replaceToken } from './hints';
import { useSearchStore } from './search-store';

type Item =
  | { kind: 'hint'; key: string; label: string; insert: string }
  | { kind: 'hit'; key: string; hit: MessageHit };

const DEBOUNCE_MS = 200;

type SearchType = 'messages' | 'files' | 'media';
const TABS: { type: SearchType; label: string }[] = [
  { type: 'messages', label: 'Messages' },
  { type: 'files', label: 'Files' },
  // Pictures by the text read in them and the objects seen (media analysis).
  { type: 'media', label: 'Pictures' },
];

function chatToken(chat: Chat): string {
  if (chat.kind === 'direct' && chat.peer) return `in:@${chat.peer.username}`;
  return /\s|"/.test(chat.name) ? `in:"${chat.name.replace(/"/g, '')}"` : `in:${chat.name}`;
}

export function SearchBox() {
  const { open, query, scope, focusRequest, setQuery, openSearch, clearScope, close } = useSearchStore();
  const navigate = useNavigate();
  const chats = useChatsStore((s) => s.chats);
  const inputRef = useRef<HTMLInputElement>(null);
  const listId = useId();
  const [type, setType] = useState<SearchType>('messages');
  const [found, setFound] = useState<{
    hits: MessageHit[];
    terms: string[];
    q: string;
    type: SearchType;
    approximate: boolean;
  } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [people, setPeople] = useState<PublicUser[]>([]);
  const [active, setActive] = useState(0);
  const boxRef = useDismiss(open, close);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        openSearch();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [openSearch]);

  useEffect(() => {
    if (focusRequest === 0) return;
    inputRef.current?.focus();
    inputRef.current?.select();
  }, [focusRequest]);

  // Results, a moment after typing stops.
  const q = query.trim();
  useEffect(() => {
    if (!open || !q) return;
    let cancelled = false;
    const timer = setTimeout(() => {
      setLoading(true);
      api.search
        .search({ query: { q, limit: 30, type, ...(scope ? { chatId: scope.chatId } : {}) } })
        .then((res) => {
          if (cancelled) return;
          if (res.status === 200) {
            setFound({
              hits: res.body.messages,
              terms: res.body.terms,
              q,
              type,
              approximate: res.body.approximate ?? false,
            });
            setError(null);
          } else {
            setError(res.status === 400 ? 'That search is too long.' : 'Search failed. Try again.');
          }
        })
        .catch(() => {
          if (!cancelled) setError('Search failed. Check your connection.');
        })
        .finally(() => {
          if (!cancelled) setLoading(false);
        });
    }, DEBOUNCE_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [q, scope, open, type]);

  // People for from:, asked of the server once something follows the colon.
  const typing = operatorBeingTyped(query);
  const fromPartial = typing?.op === 'from' ? typing.partial : null;
  useEffect(() => {
    if (!fromPartial) return;
    let cancelled = false;
    const timer = setTimeout(() => {
      api.users
        .search({ query: { q: fromPartial, limit: 6 } })
        .then((res) => {
          if (!cancelled && res.status === 200) setPeople(res.body.users);
        })
        .catch(() => undefined);
    }, DEBOUNCE_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [fromPartial]);

  // The answer for what is typed now, in the tab shown now (an older one is still on its way).
  const current = found && found.q === q && found.type === type ? found : null;
  const items = useMemo<Item[]>(() => {
    const hints: Item[] = [];
    if (!q) {
      for (const h of OPERATOR_HINTS)
        hints.push({ kind: 'hint', key: h.insert, label: h.label, insert: h.insert });
    } else if (typing?.op === 'from') {
      const peers = typing.partial
        ? people
        : Object.values(chats).flatMap((c) => (c.kind === 'direct' && c.peer ? [c.peer] : []));
      for (const u of peers.slice(0, 6)) {
        hints.push({
          kind: 'hint',
          key: `from-${u.id}`,
          label: `${u.displayName} @${u.username}`,
          insert: `from:@${u.username}`,
        });
      }
    } else if (typing?.op === 'in') {
      const partial = typing.partial.toLowerCase();
      const matching = Object.values(chats)
        .filter((c) => c.name.toLowerCase().includes(partial))
        .slice(0, 6);
      for (const c of matching)
        hints.push({ kind: 'hint', key: `in-${c.id}`, label: c.name, insert: chatToken(c) });
    }
    // Results grouped by chat, chats in the order of their best result.
    const hits = current?.hits ?? [];
    const order: string[] = [];
    const byChat = new Map<string, MessageHit[]>();
    for (const h of hits) {
      if (!byChat.has(h.chat.id)) {
        byChat.set(h.chat.id, []);
        order.push(h.chat.id);
      }
      byChat.get(h.chat.id)!.push(h);
    }
    const grouped: Item[] = order.flatMap((id) =>
      byChat.get(id)!.map((hit) => ({ kind: 'hit' as const, key: hit.file?.id ?? hit.messageId, hit })),
    );
    return [...hints, ...grouped];
  }, [q, typing?.op, typing?.partial, people, chats, current]);

  useEffect(() => setActive(0), [items.length, q]);

  function choose(item: Item | undefined) {
    if (!item) return;
    if (item.kind === 'hint') {
      setQuery(
        item.insert.endsWith(':') || item.insert.endsWith('@') || item.insert === '"'
          ? replaceToken(query, item.insert).trimEnd()
          : replaceToken(query, item.insert),
      );
      inputRef.current?.focus();
      return;
    }
    navigate(item.hit.link, { state: { searchTerms: found?.terms ?? [] } });
    close();
    inputRef.current?.blur();
  }

  function onKeyDown(e: React.KeyboardEvent<HTMLInputElement>) {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setActive((i) => Math.min(i + 1, items.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((i) => Math.max(i - 1, 0));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      choose(items[active]);
    } else if (e.key === 'Tab' && items[active]?.kind === 'hint' && q) {
      e.preventDefault();
      choose(items[active]);
    } else if (e.key === 'Escape') {
      close();
      inputRef.current?.blur();
    }
  }

  const activeItem = items[active];
  const showPanel = open;
  const hitsShown = items.some((i) => i.kind === 'hit');
  let lastChat = '';

  return (
    <div className="search" ref={boxRef} data-testid="search">
      <div className="search__field">
        {scope && (
          <button
            type="button"
            className="search__scope"
            onClick={clearScope}
            title="Search all chats"
            data-testid="search-scope"
          >
            in {scope.title} ×
          </button>
        )}
        <input
          ref={inputRef}
          type="search"
          className="search__input"
          placeholder="Search (Ctrl+K)"
          aria-label="Search messages"
          role="combobox"
          aria-expanded={showPanel}
          aria-controls={listId}
          aria-activedescendant={activeItem ? `${listId}-${activeItem.key}` : undefined}
          autoComplete="off"
          spellCheck={false}
          maxLength={256}
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onFocus={() => openSearch(undefined)}
          onKeyDown={onKeyDown}
          data-testid="search-input"
        />
      </div>
      {showPanel && (
        <div
          className="search__panel"
          role="listbox"
          id={listId}
          aria-label="Search results"
          data-testid="search-panel"
        >
          {q && (
            <div className="search__tabs" role="group" aria-label="Search for">
              {TABS.map((tab) => (
                <button
                  key={tab.type}
                  type="button"
                  className={`search__tab${tab.type === type ? ' search__tab--active' : ''}`}
                  aria-pressed={tab.type === type}
                  onMouseDown={(e) => e.preventDefault()}
                  onClick={() => setType(tab.type)}
                  data-testid={`search-tab-${tab.type}`}
                >
                  {tab.label}
                </button>
              ))}
            </div>
          )}
          {current?.approximate && hitsShown && (
            <div className="search__notice muted" data-testid="search-approximate">
              No exact matches. Showing similar words.
            </div>
          )}
          {items.map((item, index) => {
            const selected = index === active;
            if (item.kind === 'hint') {
              return (
                // Options of the search field's listbox: the field keeps focus and the keyboard
                // (↑/↓, Enter, aria-activedescendant); a click is the mouse's way to choose.
                // eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/interactive-supports-focus
                <div
                  key={item.key}
                  id={`${listId}-${item.key}`}
                  role="option"
                  aria-selected={selected}
                  className={`search__hint${selected ? ' search__item--active' : ''}`}
                  onMouseDown={(e) => e.preventDefault()}
                  onClick={() => choose(item)}
                  data-testid="search-hint"
                >
                  {item.label}
                </div>
              );
            }
            const { hit } = item;
            const header = hit.chat.id !== lastChat;
            lastChat = hit.chat.id;
            return (
              <div key={item.key}>
                {header && (
                  <div className="search__group" data-testid="search-group">
                    {hit.chat.title}
                  </div>
                )}
                {/* An option of the listbox, as above: the field has the keyboard. */}
                {/* eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/interactive-supports-focus */}
                <div
                  id={`${listId}-${item.key}`}
                  role="option"
                  aria-selected={selected}
                  className={`search__hit${selected ? ' search__item--active' : ''}`}
                  onMouseDown={(e) => e.preventDefault()}
                  onMouseEnter={() => setActive(index)}
                  onClick={() => choose(item)}
                  data-testid="search-hit"
                  data-message-id={hit.messageId}
                  data-file-id={hit.file?.id}
                >
                  <div className="search__meta">
                    <span className="search__sender">{hit.sender?.displayName ?? 'Deleted user'}</span>
                    <time dateTime={hit.createdAt}>{new Date(hit.createdAt).toLocaleDateString()}</time>
                  </div>
                  <div className="search__snippet" data-testid="search-snippet">
                    {hit.file && (
                      <span
                        className="search__file-badge"
                        aria-label={`${hit.file.kind}, ${humanSize(hit.file.size)}`}
                      >
                        📎{' '}
                      </span>
                    )}
                    <HighlightedText text={hit.snippet.text} ranges={hit.snippet.highlights} />
                  </div>
                  {hit.image && (
                    <div className="search__image" data-testid="search-image">
                      {hit.image.thumbnailUrl ? (
                        <img
                          className="search__thumb"
                          src={hit.image.thumbnailUrl}
                          alt=""
                          width={64}
                          height={64}
                          style={
                            hit.image.placeholder
                              ? { backgroundImage: `url(${hit.image.placeholder})` }
                              : undefined
                          }
                        />
                      ) : null}
                      <div className="search__image-match">
                        {hit.image.labels.length > 0 && (
                          <span className="search__labels" data-testid="search-image-labels">
                            {hit.image.labels
                              .map((l) => `${l.label} (${Math.round(l.score * 100)} %)`)
                              .join(', ')}
                          </span>
                        )}
                        {hit.image.text.text && (
                          <span className="search__image-text" data-testid="search-image-text">
                            <span className="muted">In the picture: </span>
                            <HighlightedText text={hit.image.text.text} ranges={hit.image.text.highlights} />
                          </span>
                        )}
                      </div>
                    </div>
                  )}
                </div>
              </div>
            );
          })}
          {q && !hitsShown && (
            <div className="search__empty muted" data-testid="search-empty">
              {error ??
                (loading || !current
                  ? 'Searching…'
                  : type === 'files'
                    ? 'No files found.'
                    : type === 'media'
                      ? 'No pictures found.'
                      : 'No messages found.')}
            </div>
          )}
        </div>
      )}
    </div>
  );
}
