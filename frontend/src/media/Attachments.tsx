/**
 * The attachments of a message: pictures and videos in a grid (each box sized from the
 * stored width and height, so nothing moves when bytes arrive; the blurred placeholder
 * first, then the thumbnail), then voice notes, then file cards. Pending ones show a
 * spinner, failed ones the reason.
 */
import type { Attachment, MediaVariant } from '@parley/contracts';
import { type CSSProperties, memo, useState } from 'react';
import { DownloadIcon, FileIcon, PlayIcon } from '../chat/Icons';
import { downloadUrl, durationText, fileBadge, humanSize, isVisual } from './format';
import { openLightbox } from './lightbox-store';
import { localPreviewOf } from './upload-store';
import { reportBrokenUrl, useMediaUrls } from './url-store';
import { VoicePlayer } from './VoicePlayer';

/** A lone picture fits in this box (CSS px); very tall or wide ones are cropped to these ratios. */
const SINGLE_MAX = 320;
const SINGLE_MIN = 140;
const RATIO_MIN = 0.5;
const RATIO_MAX = 2.4;

/** Size of a lone picture's box: its own shape within limits. */
export function singleBox(width: number | null, height: number | null): { width: number; ratio: number } {
  const ratio = width && height ? Math.min(RATIO_MAX, Math.max(RATIO_MIN, width / height)) : 4 / 3;
  const natural = width ?? SINGLE_MAX;
  const fit = ratio >= 1 ? SINGLE_MAX : SINGLE_MAX * ratio;
  return { width: Math.round(Math.max(Math.min(fit, natural), Math.min(SINGLE_MIN, fit))), ratio };
}

function tileVariant(a: Attachment): MediaVariant | null {
  const want: MediaVariant = a.kind === 'video' ? 'poster' : 'thumbnail';
  return a.variants.includes(want) ? want : null;
}

export function MediaTile({
  attachment: a,
  single,
  onOpen,
}: {
  attachment: Attachment;
  single: boolean;
  onOpen: (el: HTMLElement) => void;
}) {
  const variant = tileVariant(a);
  const urls = useMediaUrls(a.id, variant ? [variant] : [], variant !== null);
  const remote = variant ? urls?.[variant] : undefined;
  const src = remote ?? (a.kind === 'image' ? localPreviewOf(a.id) : null);
  const [loaded, setLoaded] = useState<string | null>(null);
  const shown = src !== null && src !== undefined && loaded === src;
  let style: CSSProperties | undefined;
  if (single) {
    const box = singleBox(a.width, a.height);
    style = { width: `${box.width}px`, maxWidth: '100%', aspectRatio: String(box.ratio) };
  }
  const label =
    a.kind === 'video'
      ? `Play video ${a.name}${a.durationMs !== null ? `, ${durationText(a.durationMs)}` : ''}`
      : `Open picture ${a.name}`;
  return (
    <button
      type="button"
      className={`media-tile media-tile--${a.kind} media-tile--${a.status}${single ? ' media-tile--single' : ''}`}
      style={style}
      onClick={(e) => onOpen(e.currentTarget)}
      disabled={a.status === 'failed'}
      aria-label={label}
      data-testid="media-tile"
      data-media-id={a.id}
      data-kind={a.kind}
      data-status={a.status}
      data-shown={shown ? (remote ? 'thumbnail' : 'local') : a.placeholder ? 'placeholder' : 'none'}
    >
      {a.placeholder && (
        <img className="media-tile__placeholder" src={a.placeholder} alt="" aria-hidden="true" />
      )}
      {src && (
        <img
          className={`media-tile__img${shown ? ' media-tile__img--loaded' : ''}`}
          src={src}
          alt=""
          draggable={false}
          onLoad={() => setLoaded(src)}
          onError={() => {
            if (remote) reportBrokenUrl(a.id);
          }}
          data-testid="media-tile-img"
        />
      )}
      {a.kind === 'video' && a.status === 'ready' && (
        <span className="media-tile__play" aria-hidden="true">
          <PlayIcon />
        </span>
      )}
      {a.kind === 'video' && a.durationMs !== null && (
        <span className="media-tile__badge">{durationText(a.durationMs)}</span>
      )}
      {a.status === 'pending' && (
        <span
          className="media-tile__overlay"
          role="status"
          aria-label="Processing"
          data-testid="media-pending"
        >
          <span className="spinner" aria-hidden="true" />
        </span>
      )}
      {a.status === 'failed' && (
        <span className="media-tile__overlay media-tile__overlay--failed" data-testid="media-failed">
          {a.failureReason ?? 'This file could not be processed.'}
        </span>
      )}
    </button>
  );
}

export function MediaGrid({ items }: { items: Attachment[] }) {
  const count = items.length;
  const layout =
    count === 1 ? 'one' : count === 2 ? 'two' : count === 3 ? 'three' : count === 4 ? 'four' : 'many';
  return (
    <div className={`media-grid media-grid--${layout}`} data-testid="media-grid" data-count={count}>
      {items.map((a, i) => (
        <MediaTile
          key={a.id}
          attachment={a}
          single={count === 1}
          onOpen={(el) => openLightbox(items, i, el)}
        />
      ))}
    </div>
  );
}

export function FileCard({ attachment: a }: { attachment: Attachment }) {
  const ready = a.status === 'ready';
  const urls = useMediaUrls(a.id, ['original'], ready && a.variants.includes('original'));
  const href = ready && urls?.original ? downloadUrl(urls.original) : null;
  return (
    <div
      className={`file-card file-card--${a.status}`}
      data-testid="file-card"
      data-media-id={a.id}
      data-status={a.status}
    >
      <span className="file-card__icon" aria-hidden="true">
        <FileIcon />
        <span className="file-card__ext">{fileBadge(a.name, a.mime)}</span>
      </span>
      <span className="file-card__text">
        <span className="file-card__name" title={a.name} data-testid="file-card-name">
          {a.name}
        </span>
        <span className="file-card__meta" data-testid="file-card-size">
          {a.status === 'failed'
            ? (a.failureReason ?? 'This file could not be processed.')
            : a.status === 'pending'
              ? `${humanSize(a.size)} · checking…`
              : humanSize(a.size)}
        </span>
      </span>
      {a.status === 'pending' && (
        <span className="spinner spinner--small" aria-label="Processing" role="status" />
      )}
      {href && (
        <a
          className="icon-button file-card__download"
          href={href}
          download={a.name}
          aria-label={`Download ${a.name}`}
          title="Download"
          data-testid="file-card-download"
        >
          <DownloadIcon />
        </a>
      )}
    </div>
  );
}

/** Everything a message carries, in the sender's order within each kind. */
export const MessageAttachments = memo(function MessageAttachments({
  attachments,
}: {
  attachments: Attachment[];
}) {
  const visual = attachments.filter(isVisual);
  const voice = attachments.filter((a) => a.kind === 'voice');
  const files = attachments.filter((a) => a.kind === 'file');
  return (
    <div className="message-attachments" data-testid="message-attachments">
      {visual.length > 0 && <MediaGrid items={visual} />}
      {voice.map((a) => (
        <VoicePlayer key={a.id} attachment={a} />
      ))}
      {files.map((a) => (
        <FileCard key={a.id} attachment={a} />
      ))}
    </div>
  );
});
