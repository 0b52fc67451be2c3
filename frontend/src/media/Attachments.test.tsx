/**
 * Attachments in a message: boxes sized before any bytes arrive, the blurred placeholder
 * first and the thumbnail once it loaded, spinner while pending, the reason when failed,
 * file cards that download; URLs asked for in one batch; the lightbox (preview, then the
 * original; arrows; Escape gives focus back).
 */
import type { Attachment } from '@parley/contracts';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { PLACEHOLDER, attachment, media } from '../test/media-fixtures';
import { type StubRequest, errorReply, stubNetwork, testUser } from '../test/stub-network';
import { MessageAttachments } from './Attachments';
import { Lightbox } from './Lightbox';
import { closeLightbox } from './lightbox-store';
import { clearMediaUrls } from './url-store';

let requests: StubRequest[];
let expires: string;

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  expires = 'e1';
  const net = stubNetwork((req) => {
    if (req.url === '/api/media/resolve') {
      const ids = (req.body as { ids: string[] }).ids;
      return { status: 200, body: { media: ids.map((i) => media(byId[i]!, { urls: urls(byId[i]!) })) } };
    }
    return errorReply(404, 'NOT_FOUND', 'Not found.');
  });
  requests = net.requests;
});

afterEach(() => {
  closeLightbox();
  clearMediaUrls();
});

const byId: Record<string, Attachment> = {};
function urls(a: Attachment) {
  return Object.fromEntries(
    a.variants.map((v) => [v, `/api/media/${a.id}/${v}?expires=${expires}&signature=s`]),
  );
}
function known(a: Attachment): Attachment {
  byId[a.id] = a;
  return a;
}
const resolves = () => requests.filter((r) => r.url === '/api/media/resolve');

function show(attachments: Attachment[]) {
  return render(
    <MemoryRouter>
      <MessageAttachments attachments={attachments} />
      <Lightbox />
    </MemoryRouter>,
  );
}

describe('attachments in a message', () => {
  it('lays a picture out from its size, shows the placeholder, then the thumbnail once loaded', async () => {
    const photo = known(attachment('photo', { width: 1600, height: 1200 }));
    show([photo]);
    const tile = screen.getByTestId('media-tile');
    expect(tile.style.aspectRatio).toMatch(/^1\.333/);
    expect(tile.style.width).toBe('320px');
    expect(tile.style.maxWidth).toBe('100%');
    expect(tile).toHaveAttribute('data-shown', 'placeholder');
    expect(tile.querySelector('.media-tile__placeholder')).toHaveAttribute('src', PLACEHOLDER);

    const img = await within(tile).findByTestId('media-tile-img');
    expect(img).toHaveAttribute('src', `/api/media/${photo.id}/thumbnail?expires=e1&signature=s`);
    expect(img).not.toHaveClass('media-tile__img--loaded');
    fireEvent.load(img);
    expect(img).toHaveClass('media-tile__img--loaded');
    expect(tile).toHaveAttribute('data-shown', 'thumbnail');
  });

  it('asks for the URLs of every attachment on screen in one request; a refused URL is asked for again', async () => {
    const three = ['a', 'b', 'c'].map((l) => known(attachment(`grid ${l}`)));
    show(three);
    expect(screen.getByTestId('media-grid')).toHaveClass('media-grid--three');
    await waitFor(() => expect(screen.getAllByTestId('media-tile-img')).toHaveLength(3));
    expect(resolves()).toHaveLength(1);
    expect(resolves()[0]!.body).toEqual({ ids: three.map((a) => a.id) });

    // An expired link (403 MEDIA_URL_EXPIRED on the <img>): new URLs for that one.
    expires = 'e2';
    fireEvent.error(screen.getAllByTestId('media-tile-img')[1]!);
    await waitFor(() =>
      expect(screen.getAllByTestId('media-tile-img')[1]).toHaveAttribute(
        'src',
        `/api/media/${three[1]!.id}/thumbnail?expires=e2&signature=s`,
      ),
    );
    expect(resolves()).toHaveLength(2);
    expect(resolves()[1]!.body).toEqual({ ids: [three[1]!.id] });
  });

  it('shows a spinner while processing and the reason when it failed', async () => {
    const pending = known(attachment('pending', { status: 'pending', variants: [] }));
    const failed = known(
      attachment('failed', {
        status: 'failed',
        variants: [],
        failureReason: 'The picture could not be read.',
      }),
    );
    show([pending, failed]);
    const [p, f] = screen.getAllByTestId('media-tile');
    expect(p).toHaveAttribute('data-status', 'pending');
    expect(within(p!).getByTestId('media-pending')).toBeInTheDocument();
    expect(within(f!).getByTestId('media-failed')).toHaveTextContent('The picture could not be read.');
    expect(f).toBeDisabled();
    // Nothing to download yet: no URLs asked for.
    await new Promise((r) => setTimeout(r, 30));
    expect(resolves()).toHaveLength(0);
  });

  it('shows a file as a card with its name, size and a download link', async () => {
    const pdf = known(
      attachment('report', {
        kind: 'file',
        name: 'Quarterly report.pdf',
        mime: 'application/pdf',
        size: 1_234_567,
        width: null,
        height: null,
        placeholder: null,
        variants: ['original'],
      }),
    );
    show([pdf]);
    const card = screen.getByTestId('file-card');
    expect(within(card).getByTestId('file-card-name')).toHaveTextContent('Quarterly report.pdf');
    expect(within(card).getByTestId('file-card-size')).toHaveTextContent('1.2 MB');
    expect(card).toHaveTextContent('PDF');
    const link = await within(card).findByTestId('file-card-download');
    expect(link).toHaveAttribute('href', `/api/media/${pdf.id}/original?expires=e1&signature=s&download=1`);
    expect(link).toHaveAttribute('download', 'Quarterly report.pdf');
  });

  it('shows a video as its poster with the duration; it plays in the lightbox', async () => {
    const clip = known(
      attachment('clip', {
        kind: 'video',
        name: 'clip.mp4',
        mime: 'video/mp4',
        width: 1280,
        height: 720,
        durationMs: 83_000,
        placeholder: null,
        variants: ['original', 'poster'],
      }),
    );
    show([clip]);
    const tile = screen.getByTestId('media-tile');
    expect(tile).toHaveAttribute('aria-label', 'Play video clip.mp4, 1:23');
    expect(tile).toHaveTextContent('1:23');
    expect(await within(tile).findByTestId('media-tile-img')).toHaveAttribute(
      'src',
      `/api/media/${clip.id}/poster?expires=e1&signature=s`,
    );
    await userEvent.click(tile);
    const video = await screen.findByTestId('lightbox-video');
    expect(video).toHaveAttribute('src', `/api/media/${clip.id}/original?expires=e1&signature=s`);
    expect(video).toHaveAttribute('controls');
  });

  it('shows a voice note with its waveform and duration', () => {
    const voice = known(
      attachment('voice', {
        kind: 'voice',
        name: 'voice.webm',
        mime: 'audio/webm',
        width: null,
        height: null,
        placeholder: null,
        durationMs: 65_000,
        waveform: Array.from({ length: 64 }, (_, i) => (i * 4) % 256),
        variants: ['original'],
      }),
    );
    show([voice]);
    const player = screen.getByTestId('voice-player');
    expect(within(player).getByTestId('waveform').children).toHaveLength(64);
    expect(within(player).getByTestId('voice-time')).toHaveTextContent('1:05');
  });
});

describe('lightbox', () => {
  it('opens on the picture clicked: the preview, then the original; arrows move; Escape closes and gives focus back', async () => {
    // Pictures "load" as soon as their src is set.
    vi.stubGlobal(
      'Image',
      class {
        onload: (() => void) | null = null;
        set src(_: string) {
          setTimeout(() => this.onload?.(), 0);
        }
      },
    );
    const first = known(
      attachment('first', { variants: ['original', 'preview', 'thumbnail'], name: 'first.jpg' }),
    );
    const second = known(attachment('second', { name: 'second.jpg' }));
    show([first, second]);
    const user = userEvent.setup();
    const tiles = screen.getAllByTestId('media-tile');
    await user.click(tiles[0]!);

    const box = await screen.findByTestId('lightbox');
    expect(box).toHaveAttribute('aria-modal', 'true');
    expect(screen.getByTestId('lightbox-close')).toHaveFocus();
    await waitFor(() =>
      expect(screen.getByTestId('lightbox-image')).toHaveAttribute('data-variant', 'original'),
    );
    expect(screen.getByTestId('lightbox-image')).toHaveAttribute(
      'src',
      `/api/media/${first.id}/original?expires=e1&signature=s`,
    );
    expect(screen.getByTestId('lightbox-download')).toHaveAttribute(
      'href',
      `/api/media/${first.id}/original?expires=e1&signature=s&download=1`,
    );

    await user.keyboard('{ArrowRight}');
    expect(box).toHaveAttribute('data-media-id', second.id);
    // No original kept (standard quality): the preview is what there is, and what downloads.
    await waitFor(() =>
      expect(screen.getByTestId('lightbox-image')).toHaveAttribute('data-variant', 'preview'),
    );
    expect(screen.getByTestId('lightbox-download')).toHaveAttribute('data-variant', 'preview');
    await user.keyboard('{ArrowRight}');
    expect(box).toHaveAttribute('data-media-id', first.id);

    // Tab stays inside.
    const close = screen.getByTestId('lightbox-close');
    close.focus();
    await user.tab();
    expect(box).toContainElement(document.activeElement as HTMLElement);

    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('lightbox')).toBeNull();
    expect(tiles[0]).toHaveFocus();
    act(() => vi.unstubAllGlobals());
  });

  it('keeps the same picture element while the original replaces the preview; the backdrop closes it', async () => {
    // The original "loads" only when the test says so.
    const pending: (() => void)[] = [];
    vi.stubGlobal(
      'Image',
      class {
        onload: (() => void) | null = null;
        set src(_: string) {
          pending.push(() => this.onload?.());
        }
      },
    );
    const photo = known(
      attachment('swap', { variants: ['original', 'preview', 'thumbnail'], name: 'swap.jpg' }),
    );
    show([photo]);
    const user = userEvent.setup();
    const tile = screen.getByTestId('media-tile');
    await user.click(tile);
    const preview = await screen.findByTestId('lightbox-image');
    await waitFor(() => expect(preview).toHaveAttribute('data-variant', 'preview'));
    await waitFor(() => expect(pending.length).toBeGreaterThan(0));
    act(() => pending.forEach((load) => load()));
    await waitFor(() =>
      expect(screen.getByTestId('lightbox-image')).toHaveAttribute('data-variant', 'original'),
    );
    // Not a new element: a test (or a reader) holding the picture never sees it vanish.
    expect(screen.getByTestId('lightbox-image')).toBe(preview);
    expect(preview).toBeInTheDocument();

    const box = screen.getByTestId('lightbox');
    expect(box).toHaveAccessibleName('Picture 1 of 1: swap.jpg');
    // A click on the picture keeps it open; on the space around it closes it.
    await user.click(preview);
    expect(screen.getByTestId('lightbox')).toBeInTheDocument();
    await user.click(box.querySelector('.lightbox__stage')!);
    expect(screen.queryByTestId('lightbox')).toBeNull();
    await waitFor(() => expect(tile).toHaveFocus());
    act(() => vi.unstubAllGlobals());
  });
});
