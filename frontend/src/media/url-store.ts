/**
 * Signed download URLs of the media on screen. Messages carry attachments without URLs
 * (they are per reader and short-lived); the components that show one ask here, and the
 * ids asked for within a moment go to `POST /api/media/resolve` together (at most 100 a
 * call). An entry is refreshed shortly before it expires while something still shows it,
 * and dropped when the media changes (media:updated) or a URL is refused (an <img> error,
 * 403 MEDIA_URL_EXPIRED).
 *
 * Expiry is kept on the client's clock: the lifetime the server granted (urlsExpireAt minus
 * the response's Date) counted from when the answer arrived, so a skewed clock does not
 * make every URL look expired (and fetched again in a loop).
 */
import { type Media, type MediaUrls, type MediaVariant } from '@parley/contracts';
import { useEffect } from 'react';
import { create } from 'zustand';
import { api } from '../api/client';

export const RESOLVE_BATCH_MAX = 100;
/** Ids asked for within this long go in one request. */
const BATCH_DELAY_MS = 15;
/** Refresh this long before expiry (at most a quarter of the lifetime). */
export const REFRESH_MARGIN_MS = 30_000;
/** A URL refused twice within this long is not fetched again (it is not the signature). */
const BROKEN_RETRY_MS = 30_000;
/** Lifetime assumed when the answer says nothing usable. */
const FALLBACK_LIFETIME_MS = 60_000;

export interface UrlEntry {
  urls: MediaUrls;
  /** The variants these URLs were made for. */
  variants: MediaVariant[];
  /** Client clock, ms. */
  expiresAt: number;
  fetchedAt: number;
}

interface UrlState {
  byId: Record<string, UrlEntry>;
  /** Ids the server left out (not mine to see, or gone): not asked again until invalidated. */
  missing: Record<string, true>;
  clear: () => void;
}

export const useMediaUrlStore = create<UrlState>()((set) => ({
  byId: {},
  missing: {},
  clear: () => set({ byId: {}, missing: {} }),
}));

/** When the URLs stop working, on this client's clock. */
export function localExpiry(urlsExpireAt: string, serverDate: string | null, receivedAt: number): number {
  const expires = Date.parse(urlsExpireAt);
  const serverNow = serverDate ? Date.parse(serverDate) : NaN;
  if (Number.isFinite(expires) && Number.isFinite(serverNow))
    return receivedAt + Math.max(0, expires - serverNow);
  if (Number.isFinite(expires) && expires > receivedAt) return expires;
  return receivedAt + FALLBACK_LIFETIME_MS;
}

function margin(entry: UrlEntry): number {
  return Math.min(REFRESH_MARGIN_MS, (entry.expiresAt - entry.fetchedAt) / 4);
}

/** Variants missing from an entry are asked for again, but not more often than this. */
const VARIANT_RECHECK_MS = 5_000;

/**
 * The entry can be used now and for a while yet. One made before a variant existed (a
 * missed media:updated) is stale too, once it is a few seconds old.
 */
export function isFresh(
  entry: UrlEntry | undefined,
  variants: readonly MediaVariant[],
  now = Date.now(),
): boolean {
  if (!entry) return false;
  if (now >= entry.expiresAt - margin(entry)) return false;
  const lacking = variants.some((v) => !entry.variants.includes(v));
  return !lacking || now - entry.fetchedAt < VARIANT_RECHECK_MS;
}

/** Keep media with URLs that came with another answer (an upload, a gallery page). */
export function rememberMedia(list: readonly Media[], serverDate: string | null = null): void {
  if (list.length === 0) return;
  const now = Date.now();
  useMediaUrlStore.setState((s) => {
    const byId = { ...s.byId };
    const missing = { ...s.missing };
    for (const m of list) {
      byId[m.id] = {
        urls: m.urls,
        variants: m.variants,
        expiresAt: localExpiry(m.urlsExpireAt, serverDate, now),
        fetchedAt: now,
      };
      delete missing[m.id];
    }
    return { byId, missing };
  });
}

/** Forget an id's URLs (the media changed, or a URL was refused): the next look asks again. */
export function invalidateUrls(mediaId: string): void {
  useMediaUrlStore.setState((s) => {
    if (!s.byId[mediaId] && !s.missing[mediaId]) return s;
    const byId = { ...s.byId };
    const missing = { ...s.missing };
    delete byId[mediaId];
    delete missing[mediaId];
    return { byId, missing };
  });
}

const queued = new Map<string, MediaVariant[]>();
const inFlight = new Set<string>();
let timer: ReturnType<typeof setTimeout> | null = null;
let generation = 0;

async function resolveBatch(ids: string[], gen: number): Promise<void> {
  const res = await api.media.resolve({ body: { ids } }).catch(() => null);
  for (const id of ids) inFlight.delete(id);
  if (gen !== generation) return;
  if (res?.status !== 200) return; // Asked again by the next render that needs them.
  rememberMedia(res.body.media, res.headers.get('date'));
  const returned = new Set(res.body.media.map((m) => m.id));
  const left = ids.filter((id) => !returned.has(id));
  if (left.length) {
    useMediaUrlStore.setState((s) => ({
      missing: { ...s.missing, ...Object.fromEntries(left.map((id) => [id, true as const])) },
    }));
  }
}

function flush(): void {
  timer = null;
  const ids = [...queued.keys()].filter((id) => !inFlight.has(id));
  queued.clear();
  const gen = generation;
  for (let i = 0; i < ids.length; i += RESOLVE_BATCH_MAX) {
    const batch = ids.slice(i, i + RESOLVE_BATCH_MAX);
    for (const id of batch) inFlight.add(id);
    void resolveBatch(batch, gen);
  }
}

/** Ask for fresh URLs of these ids (those that have none, or old ones), batched. */
export function requestUrls(items: readonly { id: string; variants: readonly MediaVariant[] }[]): void {
  const { byId, missing } = useMediaUrlStore.getState();
  for (const { id, variants } of items) {
    if (missing[id] || inFlight.has(id) || isFresh(byId[id], variants)) continue;
    queued.set(id, [...variants]);
  }
  if (queued.size && !timer) timer = setTimeout(flush, BATCH_DELAY_MS);
}

const brokenAt = new Map<string, number>();

/**
 * A URL of this id did not load (expired, or signed for a variant that changed): fetch new
 * ones, unless that happened a moment ago already (then the file itself is the problem).
 * Returns whether a new URL is on its way.
 */
export function reportBrokenUrl(mediaId: string): boolean {
  const last = brokenAt.get(mediaId);
  const now = Date.now();
  if (last !== undefined && now - last < BROKEN_RETRY_MS) return false;
  brokenAt.set(mediaId, now);
  invalidateUrls(mediaId);
  return true;
}

/** Sign-out: forget every URL and drop what was asked for. */
export function clearMediaUrls(): void {
  generation += 1;
  queued.clear();
  inFlight.clear();
  brokenAt.clear();
  if (timer) clearTimeout(timer);
  timer = null;
  useMediaUrlStore.getState().clear();
}

/**
 * The URLs of one media for as long as the calling component shows it: asked for when
 * missing, and again shortly before they expire. `null` until they arrive; `undefined`
 * when the server will not give them (not visible to me).
 */
export function useMediaUrls(
  mediaId: string,
  variants: readonly MediaVariant[],
  enabled = true,
): MediaUrls | null | undefined {
  const entry = useMediaUrlStore((s) => s.byId[mediaId]);
  const missing = useMediaUrlStore((s) => Boolean(s.missing[mediaId]));
  const key = variants.join(',');
  useEffect(() => {
    if (!enabled || variants.length === 0) return;
    const wanted = key.split(',') as MediaVariant[];
    requestUrls([{ id: mediaId, variants: wanted }]);
    if (!entry) return;
    // Before expiry; or soon, when these URLs were made before a wanted variant existed
    // (an upload's answer that arrived after the event saying it was ready).
    const lacking = wanted.some((v) => !entry.variants.includes(v));
    const due = lacking ? entry.fetchedAt + VARIANT_RECHECK_MS : entry.expiresAt - margin(entry);
    const wait = due - Date.now();
    const t = setTimeout(() => requestUrls([{ id: mediaId, variants: wanted }]), Math.max(0, wait) + 5);
    return () => clearTimeout(t);
    // `variants` is compared by its key.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mediaId, key, entry, enabled]);
  if (missing) return undefined;
  return entry ? entry.urls : null;
}
