/**
 * A chat's pictures and videos, files and voice notes (GET /api/chats/:id/media), newest
 * first, a page at a time as the list is scrolled. A picture opens in the lightbox; every
 * item can take you to its message.
 */
import type { Media } from '@parley/contracts';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { networkProblem, toProblem } from '../api/errors';
import { timeOf } from '../chat/format';
import { Modal } from '../chat/Modal';
import { FileCard, MediaTile } from './Attachments';
import { openLightbox } from './lightbox-store';
import { attachmentOf } from './upload-store';
import { rememberMedia } from './url-store';
import { VoicePlayer } from './VoicePlayer';

type Tab = 'media' | 'file' | 'voice';
const TABS: { kind: Tab; label: string; empty: string }[] = [
  { kind: 'media', label: 'Media', empty: 'No pictures or videos in this chat yet.' },
  { kind: 'file', label: 'Files', empty: 'No files in this chat yet.' },
  { kind: 'voice', label: 'Voice', empty: 'No voice messages in this chat yet.' },
];

interface Listing {
  items: Media[];
  cursor: string | null;
  done: boolean;
  loading: boolean;
  error: string | null;
}
const FRESH: Listing = { items: [], cursor: null, done: false, loading: false, error: null };

function messageLink(m: Media): string | null {
  return m.chatId && m.messageId ? `/chats/${m.chatId}/messages/${m.messageId}` : null;
}

function shortDate(iso: string): string {
  return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

export function MediaGallery({ chatId, onClose }: { chatId: string; onClose: () => void }) {
  const [tab, setTab] = useState<Tab>('media');
  /** Pictures: only those in which this object was seen (media analysis), or all. */
  const [label, setLabel] = useState<string | null>(null);
  const [labels, setLabels] = useState<{ label: string; count: number }[]>([]);
  const [lists, setLists] = useState<Record<Tab, Listing>>({ media: FRESH, file: FRESH, voice: FRESH });
  const list = lists[tab];
  const navigate = useNavigate();
  const sentinel = useRef<HTMLDivElement>(null);
  const loadingRef = useRef<Record<Tab, boolean>>({ media: false, file: false, voice: false });

  const loadMore = useCallback(
    async (kind: Tab, cursor: string | null) => {
      if (loadingRef.current[kind]) return;
      loadingRef.current[kind] = true;
      setLists((l) => ({ ...l, [kind]: { ...l[kind], loading: true, error: null } }));
      const res = await api.media
        .listForChat({
          params: { chatId },
          query: { kind, ...(cursor ? { cursor } : {}), ...(kind === 'media' && label ? { label } : {}) },
        })
        .catch(() => null);
      loadingRef.current[kind] = false;
      if (res?.status === 200) {
        rememberMedia(res.body.media, res.headers.get('date'));
        if (kind === 'media' && !cursor && !label) setLabels(res.body.labels ?? []);
        setLists((l) => {
          const known = new Set(l[kind].items.map((m) => m.id));
          return {
            ...l,
            [kind]: {
              items: [...l[kind].items, ...res.body.media.filter((m) => !known.has(m.id))],
              cursor: res.body.nextCursor,
              done: res.body.nextCursor === null,
              loading: false,
              error: null,
            },
          };
        });
      } else {
        const problem = res ? toProblem(res.status, res.body) : networkProblem();
        setLists((l) => ({ ...l, [kind]: { ...l[kind], loading: false, error: problem.message } }));
      }
    },
    [chatId, label],
  );

  const chooseLabel = (next: string | null) => {
    setLabel(next);
    // The pictures listed again from the start with the new filter.
    loadingRef.current.media = false;
    setLists((l) => ({ ...l, media: FRESH }));
  };

  // The first page of a tab when it is first shown.
  const started = list.items.length > 0 || list.loading || list.done || list.error !== null;
  useEffect(() => {
    if (!started) void loadMore(tab, null);
  }, [tab, started, loadMore]);

  // The next page when the end of the list scrolls into view.
  const { cursor, done, loading, error } = list;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || done || loading || error || !cursor || typeof IntersectionObserver === 'undefined') return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadMore(tab, cursor);
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [tab, cursor, done, loading, error, loadMore]);

  const jump = (m: Media) => {
    const link = messageLink(m);
    if (!link) return;
    onClose();
    navigate(link);
  };
  const visual = list.items.filter((m) => m.kind === 'image' || m.kind === 'video');

  return (
    <Modal title="Media and files" onClose={onClose} testId="media-gallery">
      <div className="chat-tabs media-gallery__tabs" role="tablist" aria-label="Kinds">
        {TABS.map((t) => (
          <button
            key={t.kind}
            type="button"
            role="tab"
            aria-selected={tab === t.kind}
            className={`chat-tabs__tab${tab === t.kind ? ' chat-tabs__tab--active' : ''}`}
            onClick={() => setTab(t.kind)}
            data-testid={`gallery-tab-${t.kind}`}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="media-gallery__panel" role="tabpanel" data-testid="gallery-panel" data-kind={tab}>
        {tab === 'media' && labels.length > 0 && (
          <div
            className="media-gallery__labels"
            role="group"
            aria-label="Show pictures of"
            data-testid="gallery-labels"
          >
            <button
              type="button"
              className={`chip${label === null ? ' chip--selected' : ''}`}
              aria-pressed={label === null}
              onClick={() => chooseLabel(null)}
            >
              All
            </button>
            {labels.map((l) => (
              <button
                key={l.label}
                type="button"
                className={`chip${label === l.label ? ' chip--selected' : ''}`}
                aria-pressed={label === l.label}
                onClick={() => chooseLabel(label === l.label ? null : l.label)}
                data-testid={`gallery-label-${l.label}`}
              >
                {l.label} ({l.count})
              </button>
            ))}
          </div>
        )}
        {tab === 'media' && visual.length > 0 && (
          <div className="media-gallery__grid">
            {visual.map((m, i) => (
              <MediaTile
                key={m.id}
                attachment={m}
                single={false}
                onOpen={(el) =>
                  openLightbox(
                    visual.map(attachmentOf),
                    i,
                    el,
                    visual.map((v) => messageLink(v)),
                  )
                }
              />
            ))}
          </div>
        )}
        {tab !== 'media' &&
          list.items.map((m) => (
            <div key={m.id} className="media-gallery__row" data-testid="gallery-item" data-media-id={m.id}>
              {m.kind === 'voice' ? <VoicePlayer attachment={m} /> : <FileCard attachment={m} />}
              <span className="media-gallery__when muted">
                {shortDate(m.createdAt)} {timeOf(m.createdAt)}
                {messageLink(m) && (
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => jump(m)}
                    data-testid="gallery-jump"
                  >
                    Show in chat
                  </button>
                )}
              </span>
            </div>
          ))}
        {list.done && list.items.length === 0 && (
          <p className="muted media-gallery__empty" data-testid="gallery-empty">
            {TABS.find((t) => t.kind === tab)?.empty}
          </p>
        )}
        {list.error && (
          <p className="media-gallery__error" role="alert">
            {list.error}{' '}
            <button type="button" className="link-button" onClick={() => void loadMore(tab, list.cursor)}>
              Try again
            </button>
          </p>
        )}
        <div ref={sentinel} className="media-gallery__more">
          {list.loading ? (
            <span className="spinner spinner--small" role="status" aria-label="Loading" />
          ) : (
            !list.done &&
            !list.error &&
            list.cursor && (
              <button
                type="button"
                className="link-button"
                onClick={() => void loadMore(tab, list.cursor)}
                data-testid="gallery-more"
              >
                Load more
              </button>
            )
          )}
        </div>
      </div>
    </Modal>
  );
}
