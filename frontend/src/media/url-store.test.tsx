/**
 * The signed-URL cache: URLs are kept until shortly before they expire (on the client's
 * clock, from the lifetime the server granted), then asked for again while something
 * still shows them; media:updated and refused URLs drop them.
 */
import { act, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { attachment, media } from '../test/media-fixtures';
import { type StubRequest, errorReply, stubNetwork, testUser } from '../test/stub-network';
import {
  REFRESH_MARGIN_MS,
  clearMediaUrls,
  invalidateUrls,
  localExpiry,
  rememberMedia,
  useMediaUrls,
} from './url-store';

const photo = attachment('cached photo');
const LIFETIME_MS = 10 * 60_000;
let requests: StubRequest[];
let round: number;
/** The server's clock runs this far ahead of the client's. */
let serverSkewMs: number;

function Thumb() {
  const urls = useMediaUrls(photo.id, ['thumbnail']);
  return <span data-testid="thumb-url">{urls?.thumbnail ?? 'none'}</span>;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(new Date('2026-03-01T10:00:00Z'));
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  round = 0;
  serverSkewMs = 0;
  const net = stubNetwork((req) => {
    if (req.url !== '/api/media/resolve') return errorReply(404, 'NOT_FOUND', 'Not found.');
    round += 1;
    const serverNow = Date.now() + serverSkewMs;
    const m = media(photo, {
      urls: { thumbnail: `/api/media/${photo.id}/thumbnail?round=${round}` },
      urlsExpireAt: new Date(serverNow + LIFETIME_MS).toISOString(),
    });
    return { status: 200, body: { media: [m] }, headers: { date: new Date(serverNow).toUTCString() } };
  });
  requests = net.requests;
});

afterEach(() => {
  clearMediaUrls();
  vi.useRealTimers();
});

const resolves = () => requests.filter((r) => r.url === '/api/media/resolve').length;
const shown = () => screen.getByTestId('thumb-url').textContent;

describe('signed URL cache', () => {
  it('asks once, keeps the URLs, and asks again shortly before they expire while shown', async () => {
    render(<Thumb />);
    expect(shown()).toBe('none');
    await act(() => vi.advanceTimersByTimeAsync(50));
    expect(resolves()).toBe(1);
    expect(shown()).toContain('round=1');

    // A second user of the same media within the lifetime: no new request.
    render(<Thumb />);
    await act(() => vi.advanceTimersByTimeAsync(LIFETIME_MS - REFRESH_MARGIN_MS - 1_000));
    expect(resolves()).toBe(1);

    // Within the margin before expiry: fresh URLs, shown in place of the old ones.
    await act(() => vi.advanceTimersByTimeAsync(2_000));
    expect(resolves()).toBe(2);
    expect(screen.getAllByTestId('thumb-url').map((e) => e.textContent)).toEqual([
      expect.stringContaining('round=2'),
      expect.stringContaining('round=2'),
    ]);
  });

  it('counts the lifetime from the answer, so a client clock far behind the server does not refetch in a loop', async () => {
    serverSkewMs = 60 * 60_000; // The server is an hour ahead: urlsExpireAt looks 70 minutes away.
    render(<Thumb />);
    await act(() => vi.advanceTimersByTimeAsync(50));
    expect(resolves()).toBe(1);
    // ...but they really last ten: refreshed before that, not after 70.
    await act(() => vi.advanceTimersByTimeAsync(LIFETIME_MS));
    expect(resolves()).toBe(2);

    serverSkewMs = -60 * 60_000; // An hour behind: urlsExpireAt looks long past.
    await act(() => vi.advanceTimersByTimeAsync(LIFETIME_MS));
    const after = resolves();
    await act(() => vi.advanceTimersByTimeAsync(60_000));
    expect(resolves()).toBe(after); // No loop.
  });

  it('asks again when the URLs are dropped (media:updated), and takes URLs that came with an upload', async () => {
    rememberMedia([media(photo, { urls: { thumbnail: '/from-upload' } })]);
    render(<Thumb />);
    expect(shown()).toBe('/from-upload');
    await act(() => vi.advanceTimersByTimeAsync(50));
    expect(resolves()).toBe(0);
    act(() => invalidateUrls(photo.id));
    await act(() => vi.advanceTimersByTimeAsync(50));
    expect(resolves()).toBe(1);
    expect(shown()).toContain('round=1');
  });

  it('URLs made before the variant existed (an upload answer later than its ready event) are asked for again soon', async () => {
    rememberMedia([media({ ...photo, status: 'pending', variants: [] }, { urls: {} })]);
    render(<Thumb />);
    await act(() => vi.advanceTimersByTimeAsync(50));
    expect(resolves()).toBe(0);
    expect(shown()).toBe('none');
    await act(() => vi.advanceTimersByTimeAsync(5_000));
    expect(resolves()).toBe(1);
    expect(shown()).toContain('round=1');
  });

  it('localExpiry: lifetime from the Date header; without one, the stamp when it lies ahead', () => {
    const received = Date.parse('2026-03-01T10:00:00Z');
    expect(localExpiry('2026-03-01T12:10:00Z', 'Sun, 01 Mar 2026 12:00:00 GMT', received)).toBe(
      received + 600_000,
    );
    expect(localExpiry('2026-03-01T10:05:00Z', null, received)).toBe(received + 300_000);
    expect(localExpiry('2026-03-01T09:00:00Z', null, received)).toBe(received + 60_000);
  });
});
