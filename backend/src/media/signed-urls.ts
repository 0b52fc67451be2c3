/**
 * Signed download URLs. A browser loads pictures with <img src> and videos with <video>,
 * which cannot send the bearer token, so each reader gets URLs signed for them: the
 * signature covers the upload, the variant, the reader and the expiry. The download route
 * still checks, at the time of the request, that the reader may see the upload — a removed
 * member's URLs stop working at once, not when they expire.
 *
 * Expiries are rounded up to a window, so the same reader asking twice gets the same URL
 * and the browser's cache keeps working.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MediaUrls, MediaVariant } from '@parley/contracts';

const EXPIRY_WINDOW_SECONDS = 300;

export interface MediaSigner {
  /** URLs of `variants` for `userId`, valid at least `ttlSeconds` from `now`. */
  urls(
    mediaId: string,
    variants: readonly MediaVariant[],
    userId: string,
    now: Date,
  ): {
    urls: MediaUrls;
    expiresAt: Date;
  };
  /** Whether a download's signature is genuine (expiry checked separately). */
  verify(mediaId: string, variant: string, userId: string, expires: number, signature: string): boolean;
  /** Where a direct upload's bytes go when files are stored locally. */
  uploadUrl(mediaId: string, ownerId: string, expires: number): string;
  verifyUpload(mediaId: string, ownerId: string, expires: number, signature: string): boolean;
}

export function createMediaSigner(secret: Uint8Array, ttlSeconds: number): MediaSigner {
  // A key of its own, derived from the JWT secret: a media signature is never a token.
  const key = createHmac('sha256', secret).update('parley media urls v1').digest();
  const mac = (...parts: (string | number)[]) =>
    createHmac('sha256', key).update(parts.join('\n')).digest('base64url');
  const same = (a: string, b: string) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  };
  return {
    urls(mediaId, variants, userId, now) {
      const earliest = Math.ceil(now.getTime() / 1000) + ttlSeconds;
      const expires = Math.ceil(earliest / EXPIRY_WINDOW_SECONDS) * EXPIRY_WINDOW_SECONDS;
      const urls: MediaUrls = {};
      for (const variant of variants) {
        const signature = mac('download', mediaId, variant, userId, expires);
        urls[variant] =
          `/api/media/${mediaId}/${variant}?expires=${expires}&user=${userId}&signature=${signature}`;
      }
      return { urls, expiresAt: new Date(expires * 1000) };
    },
    verify: (mediaId, variant, userId, expires, signature) =>
      same(mac('download', mediaId, variant, userId, expires), signature),
    uploadUrl(mediaId, ownerId, expires) {
      return `/api/media/uploads/${mediaId}/content?expires=${expires}&signature=${mac('upload', mediaId, ownerId, expires)}`;
    },
    verifyUpload: (mediaId, ownerId, expires, signature) =>
      same(mac('upload', mediaId, ownerId, expires), signature),
  };
}
