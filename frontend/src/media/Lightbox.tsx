/**
 * A picture or video over the whole window, on Radix's dialog (like Modal). It shows the
 * preview (over the blurred placeholder) at once, then the original when it has loaded;
 * arrows move between the pictures it was opened with; Escape or a click on the backdrop
 * closes it and focus goes back to what opened it. Tab stays inside while it is open.
 * Over the media gallery (itself a dialog) Escape closes only the lightbox: Radix gives
 * the key to the top layer alone.
 */
import type { Attachment, MediaVariant } from '@parley/contracts';
import * as Dialog from '@radix-ui/react-dialog';
import { useEffect, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { DownloadIcon } from '../chat/Icons';
import { returnFocusTo } from '../chat/focus-return';
import { downloadUrl, durationText, humanSize } from './format';
import { closeLightbox, stepLightbox, useLightboxStore } from './lightbox-store';
import { reportBrokenUrl, useMediaUrls } from './url-store';

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
        // One element from preview to original (the original is already loaded when src
        // changes), so the picture never leaves the page while it is swapped.
        <img
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
  const { items, index, messageLinks, opener } = useLightboxStore();
  const item = items[index];
  const navigate = useNavigate();
  const dialogRef = useRef<HTMLDivElement>(null);

  if (!item) return null;
  const link = messageLinks[index];
  const label = `${item.kind === 'video' ? 'Video' : 'Picture'} ${index + 1} of ${items.length}: ${item.name}`;

  return (
    <Dialog.Root
      open
      onOpenChange={(open) => {
        if (!open) closeLightbox();
      }}
    >
      <Dialog.Portal>
        <Dialog.Content
          ref={dialogRef}
          className="lightbox"
          aria-modal="true"
          aria-describedby={undefined}
          onOpenAutoFocus={(e) => {
            e.preventDefault();
            dialogRef.current?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
          }}
          onCloseAutoFocus={returnFocusTo(opener)}
          onKeyDown={(e) => {
            if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
            if (e.target instanceof HTMLVideoElement) return; // Seeking.
            e.preventDefault();
            stepLightbox(e.key === 'ArrowLeft' ? -1 : 1);
          }}
          onClick={(e) => {
            // The backdrop around the picture (the dialog itself and its stage) closes it; on
            // click, not press, so the click does not land on what is under it once it is gone.
            const target = e.target as HTMLElement;
            if (target === e.currentTarget || target.classList.contains('lightbox__stage')) closeLightbox();
          }}
          data-testid="lightbox"
          data-media-id={item.id}
          data-index={index}
        >
          <Dialog.Title className="visually-hidden">{label}</Dialog.Title>
          <div className="lightbox__bar">
            <span className="lightbox__title">
              <span className="lightbox__name">{item.name}</span>
              <span className="lightbox__meta">
                {items.length > 1 && `${index + 1} / ${items.length} · `}
                {item.width && item.height ? `${item.width}×${item.height} · ` : ''}
                {item.kind === 'video' && item.durationMs !== null
                  ? `${durationText(item.durationMs)} · `
                  : ''}
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
            <Dialog.Close
              className="icon-button lightbox__close"
              aria-label="Close"
              data-autofocus
              data-testid="lightbox-close"
            >
              ×
            </Dialog.Close>
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
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
