/**
 * The files waiting above the composer: a tile each with its progress, a × to cancel or
 * remove it, and the server's words when it was refused (with Retry when trying again can
 * help). "Original quality" appears while pictures are among them.
 */
import { MAX_ATTACHMENTS } from '@parley/contracts';
import { FileIcon } from '../chat/Icons';
import { showToast } from '../chat/toast';
import { fileBadge, humanSize } from './format';
import {
  type UploadItem,
  addFiles,
  cancelUpload,
  retryUpload,
  setOriginalQuality,
  useChatUploads,
  useUploadStore,
} from './upload-store';

/** Add files to a chat's composer, saying so when some were left out. */
export function attachFiles(chatId: string, files: readonly File[]): void {
  if (files.length === 0) return;
  const { refused } = addFiles(chatId, files);
  if (refused > 0) showToast(`A message can carry at most ${MAX_ATTACHMENTS} files.`, 'error');
}

function UploadTile({ item }: { item: UploadItem }) {
  const percent = Math.round(item.progress * 100);
  return (
    <li
      className={`upload-tile upload-tile--${item.status}`}
      data-testid="upload-tile"
      data-status={item.status}
      data-name={item.name}
      data-media-id={item.media?.id ?? ''}
      data-error-code={item.error?.code ?? ''}
    >
      <span className="upload-tile__thumb" aria-hidden="true">
        {item.previewUrl ? (
          <img src={item.previewUrl} alt="" />
        ) : (
          <>
            <FileIcon />
            <span className="upload-tile__ext">{fileBadge(item.name, item.file.type)}</span>
          </>
        )}
      </span>
      <span className="upload-tile__text">
        <span className="upload-tile__name" title={item.name}>
          {item.name}
        </span>
        {item.error ? (
          <span
            className="upload-tile__error"
            role="alert"
            title={item.error.message}
            data-testid="upload-error"
          >
            {item.error.message}
          </span>
        ) : (
          <span className="upload-tile__meta">
            {item.status === 'done'
              ? humanSize(item.size)
              : item.status === 'queued'
                ? 'Waiting…'
                : `${percent}% of ${humanSize(item.size)}`}
          </span>
        )}
        {item.error?.retryable && (
          <button
            type="button"
            className="link-button upload-tile__retry"
            onClick={() => retryUpload(item.chatId, item.key)}
            data-testid="upload-retry"
          >
            Retry
          </button>
        )}
      </span>
      {(item.status === 'uploading' || item.status === 'queued') && (
        <span
          className="upload-tile__progress"
          role="progressbar"
          aria-label={`Uploading ${item.name}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
          data-testid="upload-progress"
        >
          <span style={{ width: `${percent}%` }} />
        </span>
      )}
      <button
        type="button"
        className="upload-tile__remove"
        onClick={() => cancelUpload(item.chatId, item.key)}
        aria-label={
          item.status === 'uploading' || item.status === 'queued'
            ? `Cancel ${item.name}`
            : `Remove ${item.name}`
        }
        data-testid="upload-cancel"
      >
        ×
      </button>
    </li>
  );
}

export function UploadTray({ chatId }: { chatId: string }) {
  const items = useChatUploads(chatId);
  const original = useUploadStore((s) => Boolean(s.originalQuality[chatId]));
  if (items.length === 0) return null;
  const hasImages = items.some((i) => i.isImage);
  return (
    <div className="upload-tray" data-testid="upload-tray">
      <ul className="upload-tray__list" aria-label="Attached files">
        {items.map((item) => (
          <UploadTile key={item.key} item={item} />
        ))}
      </ul>
      {hasImages && (
        <label className="upload-tray__quality" title="Send pictures at full size (larger files)">
          <input
            type="checkbox"
            checked={original}
            onChange={(e) => setOriginalQuality(chatId, e.target.checked)}
            data-testid="original-quality"
          />
          Original quality
        </label>
      )}
    </div>
  );
}
