/**
 * The one error the media processing functions throw (inspect-upload, process-image,
 * process-av). `reason` is a sentence safe to show the uploader; `code` lets the caller map
 * it to an API error or a job outcome; `message` may add internal detail (a tool's stderr,
 * a libvips message) for the logs only.
 */

export type MediaProcessingCode =
  /** The file is damaged, truncated or not what its bytes claimed. */
  | 'corrupt'
  /** An image has more pixels than allowed (counting every frame of an animation). */
  | 'too_many_pixels'
  /** A format the processing does not handle. */
  | 'unsupported'
  /** Processing took longer than allowed and was stopped. */
  | 'timeout'
  /** ffmpeg or ffprobe is not installed (or not at the configured path). */
  | 'tool_missing'
  /** ffmpeg or ffprobe failed for another reason. */
  | 'tool_failed';

const DEFAULT_REASONS: Record<MediaProcessingCode, string> = {
  corrupt: 'The file is damaged or incomplete.',
  too_many_pixels: 'The image is too large.',
  unsupported: 'This file type is not supported.',
  timeout: 'The file took too long to process.',
  tool_missing: 'Audio and video processing is not available on this server.',
  tool_failed: 'The file could not be processed.',
};

export class MediaProcessingError extends Error {
  override readonly name = 'MediaProcessingError';
  readonly code: MediaProcessingCode;
  /** Safe to show users: never contains paths, tool output or library messages. */
  readonly reason: string;

  constructor(code: MediaProcessingCode, opts: { reason?: string; detail?: string; cause?: unknown } = {}) {
    const reason = opts.reason ?? DEFAULT_REASONS[code];
    super(opts.detail ? `${reason} (${opts.detail})` : reason, { cause: opts.cause });
    this.code = code;
    this.reason = reason;
  }
}

/** The first line of an unknown error's message, for `detail` (logs only). */
export function errorDetail(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0]!.slice(0, 300);
}
