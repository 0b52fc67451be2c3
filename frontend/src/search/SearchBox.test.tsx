/** The header search through the whole app (real routes and stores) over a fake REST server. */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, CAROL, chat, id, message, names, user } from '../test/chat-fixtures';
import { fakeServer } from '../test/fake-server';
import { renderAt } from '../test/render-app';
import { attachment } from '../test/media-fixtures';
import { testUser } from '../test/stub-network';
import { HighlightedText } from './HighlightedText';
import { operatorBeingTyped, replaceToken } from './hints';
import { useSearchStore } from './search-store';
import { render } from '@testing-library/react';

const G = id('search group');
const D = id('search direct');
let server: ReturnType<typeof fakeServer>;

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  useSearchStore.setState({ open: false, query: '', scope: null, focusRequest: 0 });
  server = fakeServer({
    chats: [
      chat(G, { name: 'Ops Room', lastSeq: 2 }),
      chat(D, {
        kind: 'direct',
        name: names[CAROL]!,
        memberCount: 2,
        myRole: 'member',
        peer: user(CAROL),
        lastSeq: 1,
      }),
    ],
    pages: {
      [G]: [
        message(G, 1, BOB, 'the deployment is done'),
        message(G, 2, BOB, 'deploy <img src=x onerror="alert(1)"> now'),
        message(G, 3, BOB, 'see attached', {
          attachments: [
            attachment('q3', { kind: 'file', name: 'Q3-report.pdf', mime: 'application/pdf', size: 2_048 }),
          ],
        }),
      ],
      [D]: [message(D, 1, CAROL, 'did the deploy work?')],
    },
    users: [user(BOB), user(CAROL)],
  });
});

const searchCalls = () => server.calls('GET', '/api/search');

describe('header search', () => {
  it('the Files tab finds attachments by name; Messages does not look at names', async () => {
    const u = userEvent.setup();
    renderAt('/');
    const input = await screen.findByTestId('search-input');
    await u.click(input);
    await u.type(input, 'report');
    await waitFor(() => expect(screen.getByTestId('search-empty')).toHaveTextContent('No messages found.'), {
      timeout: 3000,
    });
    await u.click(screen.getByTestId('search-tab-files'));
    const [hit] = await screen.findAllByTestId('search-hit', {}, { timeout: 3000 });
    expect(hit).toHaveAttribute('data-file-id', id('media q3'));
    expect(within(hit!).getByText('report', { selector: 'mark' })).toBeInTheDocument();
    expect(within(hit!).getByTestId('search-snippet')).toHaveTextContent('Q3-report.pdf');
    expect(screen.getByTestId('search-tab-files')).toHaveAttribute('aria-pressed', 'true');
    expect(new URL(searchCalls().at(-1)!.url, 'http://x').searchParams.get('type')).toBe('files');
    expect(input).toHaveFocus();
  });

  it('the Pictures tab shows each picture found with its thumbnail and the text read in it', async () => {
    const hit = {
      messageId: id('message with a receipt'),
      chat: { id: G, kind: 'group', title: 'Ops Room' },
      sender: user(BOB),
      seq: 3,
      createdAt: '2026-11-20T10:00:00.000Z',
      editedAt: null,
      snippet: { text: '', highlights: [] },
      link: `/chats/${G}/messages/${id('message with a receipt')}`,
      file: { id: id('receipt'), name: 'IMG_2041.jpg', kind: 'image', mime: 'image/jpeg', size: 90_000 },
      image: {
        id: id('receipt'),
        width: 800,
        height: 600,
        placeholder: null,
        thumbnailUrl: '/api/media/receipt/thumbnail?sig=1',
        text: { text: 'INVOlCE 2026-117 · total 12.50', highlights: [{ start: 0, end: 7 }] },
        labels: [{ label: 'cup', score: 0.6 }],
      },
    };
    server.state.replies['GET /api/search'] = Array.from({ length: 20 }, () => ({
      status: 200,
      body: { messages: [hit], users: [], nextCursor: null, terms: ['invoice'], approximate: true },
    }));
    const u = userEvent.setup();
    renderAt('/');
    const input = await screen.findByTestId('search-input');
    await u.click(input);
    await u.type(input, 'invoice');
    await u.click(await screen.findByTestId('search-tab-media'));
    const found = await screen.findByTestId('search-image', {}, { timeout: 3000 });
    expect(found.querySelector('img')).toHaveAttribute('src', '/api/media/receipt/thumbnail?sig=1');
    expect(within(found).getByTestId('search-image-text')).toHaveTextContent('INVOlCE 2026-117');
    expect(within(found).getByText('INVOlCE', { selector: 'mark' })).toBeInTheDocument();
    expect(within(found).getByTestId('search-image-labels')).toHaveTextContent('cup (60 %)');
    expect(new URL(searchCalls().at(-1)!.url, 'http://x').searchParams.get('type')).toBe('media');
  });

  it('says so when the results are similar words rather than what was typed', async () => {
    const u = userEvent.setup();
    renderAt('/');
    const input = await screen.findByTestId('search-input');
    await u.click(input);
    await u.type(input, 'deplay');
    await screen.findAllByTestId('search-hit', {}, { timeout: 3000 });
    expect(screen.getByTestId('search-approximate')).toHaveTextContent(
      'No exact matches. Showing similar words.',
    );
    await u.clear(input);
    await u.type(input, 'deploy');
    await waitFor(() => expect(screen.getAllByTestId('search-hit')).toHaveLength(3), { timeout: 3000 });
    expect(screen.queryByTestId('search-approximate')).toBeNull();
  });

  it('Ctrl+K focuses it; results come grouped by chat with marked, escaped snippets', async () => {
    const u = userEvent.setup();
    renderAt('/');
    const input = await screen.findByTestId('search-input');
    expect(input).not.toHaveFocus();
    await u.keyboard('{Control>}k{/Control}');
    expect(input).toHaveFocus();
    await u.type(input, 'deploy');
    const hits = await screen.findAllByTestId('search-hit', {}, { timeout: 3000 });
    expect(hits).toHaveLength(3);
    const groups = screen.getAllByTestId('search-group').map((g) => g.textContent);
    expect(groups).toEqual(['Ops Room', names[CAROL]]);
    // Marks over the match; the HTML in a message is text, not an element.
    const snippets = screen.getAllByTestId('search-snippet');
    expect(snippets[1]!.textContent).toBe('deploy <img src=x onerror="alert(1)"> now');
    expect(snippets[1]!.querySelector('img')).toBeNull();
    expect(within(snippets[0]!).getByText('deploy', { selector: 'mark' })).toBeInTheDocument();
    expect(new URL(searchCalls().at(-1)!.url, 'http://x').searchParams.get('q')).toBe('deploy');
  });

  it('arrow keys move through results and Enter opens the message with the match marked', async () => {
    const u = userEvent.setup();
    const router = renderAt('/');
    const input = await screen.findByTestId('search-input');
    await u.click(input);
    await u.type(input, 'deploy');
    await screen.findAllByTestId('search-hit', {}, { timeout: 3000 });
    const selected = () =>
      screen.getAllByTestId('search-hit').findIndex((h) => h.getAttribute('aria-selected') === 'true');
    expect(selected()).toBe(0);
    await u.keyboard('{ArrowDown}{ArrowDown}');
    expect(selected()).toBe(2);
    await u.keyboard('{ArrowUp}');
    expect(selected()).toBe(1);
    await u.keyboard('{Enter}');
    const target = message(G, 2, BOB, '');
    await waitFor(() => expect(router.state.location.pathname).toBe(`/chats/${G}/messages/${target.id}`));
    expect(screen.queryByTestId('search-panel')).toBeNull();
    const el = await waitFor(() => {
      const found = screen.getAllByTestId('message').find((x) => x.dataset.messageId === target.id);
      expect(found).toBeDefined();
      return found!;
    });
    const marks = [...el.querySelectorAll('mark')].map((m) => m.textContent);
    expect(marks).toEqual(['deploy']);
    expect(el.querySelector('img')).toBeNull();
  });

  it('from: suggests people and in: suggests chats; choosing one completes the word', async () => {
    const u = userEvent.setup();
    renderAt('/');
    const input = await screen.findByTestId('search-input');
    await u.click(input);
    // Empty: the operators are listed.
    expect(screen.getAllByTestId('search-hint').length).toBeGreaterThan(3);
    await u.type(input, 'deploy from:');
    await waitFor(() =>
      expect(screen.getAllByTestId('search-hint').map((h) => h.textContent)).toContain(
        `${names[CAROL]} @carol`,
      ),
    );
    await u.click(screen.getAllByTestId('search-hint').find((h) => h.textContent?.includes('@carol'))!);
    expect(input).toHaveValue('deploy from:@carol ');
    await u.type(input, 'in:ops');
    await waitFor(() =>
      expect(screen.getAllByTestId('search-hint').map((h) => h.textContent)).toEqual(['Ops Room']),
    );
    await u.keyboard('{Enter}');
    expect(input).toHaveValue('deploy from:@carol in:"Ops Room" ');
  });

  it('"Search in this chat" in the chat header limits the search to that chat', async () => {
    const u = userEvent.setup();
    renderAt(`/chats/${G}`);
    await u.click(await screen.findByTestId('search-in-chat'));
    const input = screen.getByTestId('search-input');
    expect(input).toHaveFocus();
    expect(screen.getByTestId('search-scope')).toHaveTextContent('in Ops Room');
    await u.type(input, 'deploy');
    const hits = await screen.findAllByTestId('search-hit', {}, { timeout: 3000 });
    expect(hits).toHaveLength(2);
    expect(new URL(searchCalls().at(-1)!.url, 'http://x').searchParams.get('chatId')).toBe(G);
    await u.click(screen.getByTestId('search-scope'));
    await waitFor(() => expect(screen.getAllByTestId('search-hit')).toHaveLength(3), { timeout: 3000 });
  });
});

describe('search helpers', () => {
  it('HighlightedText marks ranges and keeps markup as text', () => {
    const { container } = render(
      <HighlightedText
        text={'a <b>bold</b> café'}
        ranges={[
          { start: 14, end: 18 },
          { start: 2, end: 5 },
        ]}
      />,
    );
    expect(container.textContent).toBe('a <b>bold</b> café');
    expect([...container.querySelectorAll('mark')].map((m) => m.textContent)).toEqual(['<b>', 'café']);
    expect(container.querySelector('b')).toBeNull();
  });

  it('knows the operator being typed and completes it', () => {
    expect(operatorBeingTyped('deploy from:@al')).toEqual({ op: 'from', partial: 'al' });
    expect(operatorBeingTyped('in:"Ops')).toEqual({ op: 'in', partial: 'Ops' });
    expect(operatorBeingTyped('deploy')).toBeNull();
    expect(replaceToken('deploy in:op', 'in:"Ops Room"')).toBe('deploy in:"Ops Room" ');
  });
});
