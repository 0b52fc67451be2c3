/** A chat's gallery: a page per kind, the next page on demand with the cursor, jump to the message. */
import type { Media } from '@parley/contracts';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { id } from '../test/chat-fixtures';
import { attachment, media } from '../test/media-fixtures';
import { type StubRequest, errorReply, stubNetwork, testUser } from '../test/stub-network';
import { Lightbox } from './Lightbox';
import { closeLightbox } from './lightbox-store';
import { MediaGallery } from './MediaGallery';
import { clearMediaUrls } from './url-store';

const C = id('gallery chat');
let requests: StubRequest[];

function shared(label: string, extra: Parameters<typeof attachment>[1] = {}): Media {
  return media(attachment(label, extra), { chatId: C, messageId: id(`message of ${label}`), seq: 3 });
}
const pictures = Array.from({ length: 5 }, (_, i) => shared(`picture ${i}`));
const report = shared('report', {
  kind: 'file',
  name: 'report.pdf',
  mime: 'application/pdf',
  width: null,
  height: null,
  placeholder: null,
  variants: ['original'],
});

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  const net = stubNetwork((req) => {
    const url = new URL(req.url, 'http://parley.test');
    if (url.pathname === `/api/chats/${C}/media`) {
      const kind = url.searchParams.get('kind');
      if (kind === 'file') return { status: 200, body: { media: [report], nextCursor: null } };
      if (kind === 'voice') return { status: 200, body: { media: [], nextCursor: null, labels: [] } };
      // Pictures with a label (media analysis): only picture 1 shows a cat.
      if (url.searchParams.get('label') === 'cat')
        return { status: 200, body: { media: [pictures[1]], nextCursor: null, labels: [] } };
      return url.searchParams.get('cursor') === 'page2'
        ? { status: 200, body: { media: pictures.slice(3), nextCursor: null, labels: [] } }
        : {
            status: 200,
            body: {
              media: pictures.slice(0, 3),
              nextCursor: 'page2',
              labels: [
                { label: 'person', count: 3 },
                { label: 'cat', count: 1 },
              ],
            },
          };
    }
    return errorReply(404, 'NOT_FOUND', 'Not found.');
  });
  requests = net.requests;
});

afterEach(() => {
  closeLightbox();
  clearMediaUrls();
});

function Where() {
  return <span data-testid="where">{useLocation().pathname}</span>;
}

function show() {
  let closed = false;
  render(
    <MemoryRouter initialEntries={[`/chats/${C}`]}>
      <Routes>
        <Route
          path="*"
          element={
            <>
              <MediaGallery chatId={C} onClose={() => (closed = true)} />
              <Lightbox />
              <Where />
            </>
          }
        />
      </Routes>
    </MemoryRouter>,
  );
  return () => closed;
}

describe('chat gallery', () => {
  it('pages through pictures, switches kinds, opens the lightbox and jumps to a message', async () => {
    const closed = show();
    const user = userEvent.setup();
    const gallery = await screen.findByTestId('media-gallery');
    await waitFor(() => expect(within(gallery).getAllByTestId('media-tile')).toHaveLength(3));
    // Without IntersectionObserver (here) the next page is a button away.
    await user.click(within(gallery).getByTestId('gallery-more'));
    await waitFor(() => expect(within(gallery).getAllByTestId('media-tile')).toHaveLength(5));
    expect(within(gallery).queryByTestId('gallery-more')).toBeNull();
    const lists = requests.filter((r) => r.url.startsWith(`/api/chats/${C}/media`)).map((r) => r.url);
    expect(lists).toEqual([
      `/api/chats/${C}/media?kind=media`,
      `/api/chats/${C}/media?kind=media&cursor=page2`,
    ]);
    // The page's URLs are used as they came: nothing to resolve.
    await waitFor(() => expect(within(gallery).getAllByTestId('media-tile-img')).toHaveLength(5));
    expect(requests.some((r) => r.url === '/api/media/resolve')).toBe(false);

    await user.click(within(gallery).getAllByTestId('media-tile')[4]!);
    const box = await screen.findByTestId('lightbox');
    expect(box).toHaveAttribute('data-index', '4');
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('lightbox')).toBeNull();
    expect(screen.getByTestId('media-gallery')).toBeInTheDocument();

    await user.click(within(gallery).getByTestId('gallery-tab-voice'));
    expect(await within(gallery).findByTestId('gallery-empty')).toHaveTextContent('No voice messages');
    await user.click(within(gallery).getByTestId('gallery-tab-file'));
    const item = await within(gallery).findByTestId('gallery-item');
    expect(within(item).getByTestId('file-card-name')).toHaveTextContent('report.pdf');
    await user.click(within(item).getByTestId('gallery-jump'));
    expect(closed()).toBe(true);
    expect(screen.getByTestId('where')).toHaveTextContent(`/chats/${C}/messages/${report.messageId}`);
  });

  it('filters the pictures by an object seen in them, and back to all', async () => {
    show();
    const user = userEvent.setup();
    const gallery = await screen.findByTestId('media-gallery');
    await waitFor(() => expect(within(gallery).getAllByTestId('media-tile')).toHaveLength(3));
    const filters = within(gallery).getByTestId('gallery-labels');
    expect(filters).toHaveTextContent('person (3)');
    await user.click(within(filters).getByTestId('gallery-label-cat'));
    await waitFor(() => expect(within(gallery).getAllByTestId('media-tile')).toHaveLength(1));
    expect(within(filters).getByTestId('gallery-label-cat')).toHaveAttribute('aria-pressed', 'true');
    expect(requests.map((r) => r.url)).toContain(`/api/chats/${C}/media?kind=media&label=cat`);
    await user.click(within(filters).getByText('All'));
    await waitFor(() => expect(within(gallery).getAllByTestId('media-tile')).toHaveLength(3));
  });
});
