/**
 * A picture or video over the whole window. It shows the preview (over the blurred
 * placeholder) at once, then the original when it has loaded; arrows move between the
 * pictures it was opened with; Escape closes it and focus goes back to what opened it.
 * Tab stays inside while it is open.
 */
import type { Attachment, MediaVariant } from '@parley/contracts';
import { type KeyboardEvent as ReactKeyboardEvent, useEffect, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { DownloadIcon } from '../chat/Icons';
import { downloadUrl, durationText, humanSize } from './format';
import { closeLightbox, stepLightbox, useLightboxStore } from './lightbox-store';
import { reportBrokenUrl, useMediaUrls } from './url-store';

function focusables(root: HTMLElement): HTMLElement[] {
  return [
    ...root.querySelectorAll<HTMLElement>(
      'a[href], button:not([disabled]), video[controls], [tabindex]:not([tabindex="-1"])',
    ),
  ];
}

function wanted(a: Attachment): MediaVariant[] {
  const order: MediaVariant[] =
    a.kind === 'video' ? ['original', 'poster'] : ['preview', 'original', 'thumbnail'];
  return order.filter((v) => a.variants.includes(v));
}

function Picture({ item }: { item: Attachment }) {
  const urls = useMediaUrls(item.id, wanted(item), item.status !== 'failed');
  const shown = urls?.preview ?? urls?.thumbnail;
  const original = item.variants.includes('original') ? urls?.original : undefined;
  const [originalReady, setOriginalReady] = useState<string | null>(null);

  // Load the original beside the preview; show it once it is all there.
  useEffect(() => {
    if (!original) return;
    let live = true;
    const img = new Image();
    img.onload = () => {
      if (live) setOriginalReady(original);
    };
    img.src = original;
    return () => {
      live = false;
      img.onload = null;
    };
  }, [original]);

  const src = originalReady ?? shown;
  const [loaded, setLoaded] = useState<string | null>(null);
  // The box has the picture's shape and never grows past its own size (no upscaling);
  // the window's limits shrink it.
  const sized = item.width && item.height;
  const style = sized
    ? { width: `${item.width}px`, aspectRatio: `${item.width} / ${item.height}` }
    : undefined;
  return (
    <div className={`lightbox__frame${sized ? '' : ' lightbox__frame--unsized'}`} style={style}>
      {item.placeholder && loaded === null && (
        <img className="lightbox__placeholder" src={item.placeholder} alt="" aria-hidden="true" />
      )}
      {src && (
        <img
          key={src}
          className="lightbox__img"
          src={src}
          alt={item.name}
          onLoad={() => setLoaded(src)}
          data-testid="lightbox-image"
          data-variant={originalReady ? 'original' : urls?.preview ? 'preview' : 'thumbnail'}
          onError={() => reportBrokenUrl(item.id)}
        />
      )}
      {!src && item.status !== 'failed' && (
        <span className="media-tile__overlay" role="status" aria-label="Loading">
          <span className="spinner" aria-hidden="true" />
        </span>
      )}
    </div>
  );
}

function Video({ item }: { item: Attachment }) {
  const urls = useMediaUrls(item.id, wanted(item), item.status === 'ready');
  if (!urls?.original) {
    return (
      <div className="lightbox__frame lightbox__frame--video">
        <span className="media-tile__overlay" role="status" aria-label="Loading">
          <span className="spinner" aria-hidden="true" />
        </span>
      </div>
    );
  }
  return (
    <video
      className="lightbox__video"
      src={urls.original}
      poster={urls.poster}
      controls
      autoPlay
      playsInline
      data-testid="lightbox-video"
      onError={() => reportBrokenUrl(item.id)}
    />
  );
}

function DownloadLink({ item }: { item: Attachment }) {
  const urls = useMediaUrls(item.id, wanted(item), item.status === 'ready');
  const url = urls?.original ?? urls?.preview;
  if (!url) return null;
  return (
    <a
      className="button button--ghost button--small lightbox__download"
      href={downloadUrl(url)}
      download={item.name}
      data-testid="lightbox-download"
      data-variant={urls?.original ? 'original' : 'preview'}
    >
      <DownloadIcon /> Download
    </a>
  );
}

export function Lightbox() {
  const { items, index, messageLinks } = useLightboxStore();
  const item = items[index];
  const dialogRef = useRef<HTMLDivElement>(null);
  const navigate = useNavigate();
  const open = item !== undefined;

  useEffect(() => {
    if (!open) return;
    dialogRef.current?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    // Before any dialog below it (the gallery) sees the key: Escape closes only this.
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        closeLightbox();
      } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        if (e.target instanceof HTMLVideoElement) return; // Seeking.
        e.preventDefault();
        e.stopPropagation();
        stepLightbox(e.key === 'ArrowLeft' ? -1 : 1);
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, [open]);

  if (!item) return null;

  const trapTab = (e: ReactKeyboardEvent<HTMLDivElement>) => {
    if (e.key !== 'Tab' || !dialogRef.current) return;
    const list = focusables(dialogRef.current);
    const first = list[0];
    const last = list[list.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  const link = messageLinks[index];

  return (
    // The dialog keeps Tab inside itself (trapTab) and closes on a click on its backdrop.
    // eslint-disable-next-line jsx-a11y/no-noninteractive-element-interactions
    <div
      className="lightbox"
      role="dialog"
      aria-modal="true"
      aria-label={`${item.kind === 'video' ? 'Video' : 'Picture'} ${index + 1} of ${items.length}: ${item.name}`}
      ref={dialogRef}
      onKeyDown={trapTab}
      onMouseDown={(e) => {
        if (e.target === e.currentTarget || (e.target as HTMLElement).classList.contains('lightbox__stage'))
          closeLightbox();
      }}
      data-testid="lightbox"
      data-media-id={item.id}
      data-index={index}
    >
      <div className="lightbox__bar">
        <span className="lightbox__title">
          <span className="lightbox__name">{item.name}</span>
          <span className="lightbox__meta">
            {items.length > 1 && `${index + 1} / ${items.length} · `}
            {item.width && item.height ? `${item.width}×${item.height} · ` : ''}
            {item.kind === 'video' && item.durationMs !== null ? `${durationText(item.durationMs)} · ` : ''}
            {humanSize(item.size)}
          </span>
        </span>
        {link && (
          <button
            type="button"
            className="button button--ghost button--small"
            onClick={() => {
              closeLightbox();
              navigate(link);
            }}
            data-testid="lightbox-jump"
          >
            Show in chat
          </button>
        )}
        <DownloadLink item={item} />
        <button
          type="button"
          className="icon-button lightbox__close"
          onClick={closeLightbox}
          aria-label="Close"
          data-autofocus
          data-testid="lightbox-close"
        >
          ×
        </button>
      </div>
      <div className="lightbox__stage">
        {items.length > 1 && (
          <button
            type="button"
            className="lightbox__nav lightbox__nav--prev"
            onClick={() => stepLightbox(-1)}
            aria-label="Previous"
            data-testid="lightbox-prev"
          >
            ‹
          </button>
        )}
        {item.status === 'failed' ? (
          <p className="lightbox__failed">{item.failureReason ?? 'This file could not be processed.'}</p>
        ) : item.kind === 'video' ? (
          <Video key={item.id} item={item} />
        ) : (
          <Picture key={item.id} item={item} />
        )}
        {items.length > 1 && (
          <button
            type="button"
            className="lightbox__nav lightbox__nav--next"
            onClick={() => stepLightbox(1)}
            aria-label="Next"
            data-testid="lightbox-next"
          >
            ›
          </button>
        )}
      </div>
    </div>
  );
}
