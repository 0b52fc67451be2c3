/**
 * Attaching files in a chat, through the whole app over a stubbed network: every file is
 * its own multipart upload (fields first, then the file) with a progress bar and a ×; a
 * refusal shows the server's words on that file only (Retry where trying again can help);
 * the message carries the finished uploads' ids in the order the files were added, with
 * or without text. The socket never connects here, so the message goes over REST.
 */
import type { Attachment, ChatMember, Media, Message } from '@parley/contracts';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { type AxiosAdapter, type AxiosResponse, CanceledError, type InternalAxiosRequestConfig } from 'axios';
import { beforeEach, describe, expect, it } from 'vitest';
import { http } from '../api/client';
import { useAuthStore } from '../auth/auth-store';
import { BOB, ME, chat, id, member, message, names, user } from '../test/chat-fixtures';
import { attachment, media } from '../test/media-fixtures';
import { renderAt } from '../test/render-app';
import { type StubRequest, errorReply, stubNetwork, testUser } from '../test/stub-network';

const D = id('uploads direct');

interface Upload {
  fields: [string, string][];
  file: File;
  aborted: boolean;
  progress: (fraction: number) => void;
  reply: (status: number, body: unknown) => void;
}

let uploads: Upload[];
let requests: StubRequest[];
let known: Record<string, Media>;
let stored: Message[];

/** Uploads wait for the test to answer them; everything else goes to the stub. */
function uploadAdapter(config: InternalAxiosRequestConfig): Promise<AxiosResponse> {
  return new Promise((resolve, reject) => {
    const form = config.data as FormData;
    const file = form.get('file') as File;
    const upload: Upload = {
      fields: [...form.entries()].map(([k, v]) => [k, typeof v === 'string' ? v : `<file ${v.name}>`]),
      file,
      aborted: false,
      progress: (fraction) =>
        config.onUploadProgress?.({
          loaded: fraction * file.size,
          total: file.size,
          bytes: 0,
          lengthComputable: true,
        }),
      reply: (status, body) =>
        resolve({ status, statusText: String(status), data: body, headers: {}, config }),
    };
    config.signal?.addEventListener?.('abort', () => {
      upload.aborted = true;
      reject(new CanceledError());
    });
    uploads.push(upload);
  });
}

function uploaded(file: string, kind: Attachment['kind'] = 'file'): Media {
  const m = media(
    attachment(file, {
      kind,
      name: file,
      mime: 'application/pdf',
      size: 2_048,
      width: null,
      height: null,
      placeholder: null,
      variants: ['original'],
    }),
  );
  known[m.id] = m;
  return m;
}

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  uploads = [];
  known = {};
  stored = [message(D, 1, BOB, 'send me the files')];
  const members: ChatMember[] = [member(ME, 'member', 1, 1, true), member(BOB, 'member', 1, 1, true)];
  const direct = chat(D, {
    kind: 'direct',
    name: names[BOB]!,
    memberCount: 2,
    myRole: 'member',
    peer: user(BOB),
    lastSeq: 1,
    lastReadSeq: 1,
  });
  const net = stubNetwork((req) => {
    const url = new URL(req.url, 'http://parley.test');
    const path = url.pathname;
    if (path === '/api/chats' && req.method === 'GET')
      return {
        status: 200,
        body: { chats: url.searchParams.get('archived') === 'true' ? [] : [direct], nextCursor: null },
      };
    if (path === '/api/chats/requests') return { status: 200, body: { chats: [] } };
    if (path === `/api/chats/${D}`) return { status: 200, body: direct };
    if (path === `/api/chats/${D}/members`) return { status: 200, body: { members } };
    if (path === `/api/chats/${D}/read`)
      return { status: 200, body: { chatId: D, lastReadSeq: 1, unreadCount: 0 } };
    if (path === `/api/chats/${D}/messages` && req.method === 'GET')
      return { status: 200, body: { messages: stored, hasMoreBefore: false, hasMoreAfter: false } };
    if (path === `/api/chats/${D}/messages` && req.method === 'POST') {
      const body = req.body as { clientMsgId: string; body: string; attachments: string[] };
      const m = message(D, stored.length + 1, ME, body.body, {
        clientMsgId: body.clientMsgId,
        attachments: body.attachments.map((a) => {
          const {
            chatId: _c,
            messageId: _m,
            seq: _s,
            senderId: _u,
            urls: _r,
            urlsExpireAt: _e,
            ...rest
          } = known[a]!;
          return rest;
        }),
      });
      stored.push(m);
      return { status: 201, body: m };
    }
    if (path === '/api/media/resolve') {
      const ids = (req.body as { ids: string[] }).ids;
      return { status: 200, body: { media: ids.flatMap((i) => (known[i] ? [known[i]] : [])) } };
    }
    if (req.method === 'DELETE' && path.startsWith('/api/media/')) return { status: 204 };
    return errorReply(404, 'NOT_FOUND', 'Not found.');
  });
  requests = net.requests;
  const stub = http.defaults.adapter as AxiosAdapter;
  http.defaults.adapter = (config) =>
    config.url === '/api/media' && config.method?.toUpperCase() === 'POST'
      ? uploadAdapter(config)
      : stub(config);
});

const tiles = () => screen.queryAllByTestId('upload-tile');
const tile = (name: string) => tiles().find((t) => t.dataset.name === name)!;
const file = (name: string, type = 'application/pdf') => new File([new Uint8Array(2_048)], name, { type });
const attach = (...files: File[]) =>
  fireEvent.change(screen.getByTestId('attach-input'), { target: { files } });
const sendPosts = () =>
  requests
    .filter((r) => r.method === 'POST' && r.url === `/api/chats/${D}/messages`)
    .map((r) => r.body as { body: string; attachments?: string[] });

describe('attaching files', () => {
  it('uploads each file on its own with progress; refusals stay on their file; the message carries the ids in order', async () => {
    renderAt(`/chats/${D}`);
    await screen.findByText('send me the files');
    attach(file('one.pdf'), file('big.pdf'), file('three.pdf'));

    // Three requests at once, fields before the file part.
    await waitFor(() => expect(uploads).toHaveLength(3));
    expect(uploads[0]!.fields).toEqual([
      ['quality', 'standard'],
      ['voice', 'false'],
      ['file', '<file one.pdf>'],
    ]);
    expect(tiles().map((t) => t.dataset.name)).toEqual(['one.pdf', 'big.pdf', 'three.pdf']);
    expect(screen.getByTestId('send-button')).toBeDisabled();

    act(() => uploads[0]!.progress(0.5));
    expect(within(tile('one.pdf')).getByRole('progressbar')).toHaveAttribute('aria-valuenow', '50');
    expect(tile('one.pdf')).toHaveTextContent('50% of 2 kB');

    // Too large: the server's words on that file, nothing to retry.
    act(() =>
      uploads[1]!.reply(413, {
        error: { code: 'FILE_TOO_LARGE', message: 'The file is too large (at most 50 MB).' },
      }),
    );
    await waitFor(() => expect(tile('big.pdf')).toHaveAttribute('data-status', 'error'));
    expect(within(tile('big.pdf')).getByTestId('upload-error')).toHaveTextContent(
      'The file is too large (at most 50 MB).',
    );
    expect(within(tile('big.pdf')).queryByTestId('upload-retry')).toBeNull();

    // The scanner is away: Retry sends the file again.
    act(() =>
      uploads[2]!.reply(503, {
        error: {
          code: 'SCANNER_UNAVAILABLE',
          message: 'Files cannot be checked for viruses right now. Try again in a moment.',
        },
      }),
    );
    const retry = await within(tile('three.pdf')).findByTestId('upload-retry');
    expect(tile('three.pdf')).toHaveTextContent('cannot be checked for viruses');
    await userEvent.click(retry);
    await waitFor(() => expect(uploads).toHaveLength(4));
    const three = uploaded('three.pdf');
    act(() => uploads[3]!.reply(201, three));

    const one = uploaded('one.pdf');
    act(() => uploads[0]!.reply(201, one));
    await waitFor(() => expect(tile('one.pdf')).toHaveAttribute('data-status', 'done'));
    await waitFor(() => expect(tile('three.pdf')).toHaveAttribute('data-status', 'done'));
    expect(tile('one.pdf')).toHaveAttribute('data-media-id', one.id);

    // Cancel while uploading: the request is aborted and the file goes.
    attach(file('cancel-me.pdf'));
    await waitFor(() => expect(uploads).toHaveLength(5));
    expect(screen.getByTestId('send-button')).toBeDisabled();
    await userEvent.click(within(tile('cancel-me.pdf')).getByTestId('upload-cancel'));
    expect(uploads[4]!.aborted).toBe(true);
    expect(tile('cancel-me.pdf')).toBeUndefined();

    // Removed after it finished: the upload is deleted on the server.
    attach(file('removed.pdf'));
    await waitFor(() => expect(uploads).toHaveLength(6));
    const removed = uploaded('removed.pdf');
    act(() => uploads[5]!.reply(201, removed));
    await waitFor(() => expect(tile('removed.pdf')).toHaveAttribute('data-status', 'done'));
    await userEvent.click(within(tile('removed.pdf')).getByTestId('upload-cancel'));
    await waitFor(() =>
      expect(requests.some((r) => r.method === 'DELETE' && r.url === `/api/media/${removed.id}`)).toBe(true),
    );

    // Send: the finished ones in the order they were added; the refused one stays.
    expect(screen.getByTestId('send-button')).toBeEnabled();
    const input = screen.getByTestId('composer-input');
    await userEvent.type(input, 'two files{Enter}');
    await waitFor(() => expect(sendPosts()).toHaveLength(1));
    expect(sendPosts()[0]).toMatchObject({ body: 'two files', attachments: [one.id, three.id] });
    expect(tiles().map((t) => t.dataset.name)).toEqual(['big.pdf']);

    const sent = await waitFor(() => {
      const el = screen.getAllByTestId('message').find((m) => m.dataset.seq === '2');
      expect(el).toBeDefined();
      return el!;
    });
    expect(
      within(sent)
        .getAllByTestId('file-card')
        .map((c) => c.dataset.mediaId),
    ).toEqual([one.id, three.id]);
    expect(within(sent).getByTestId('message-body')).toHaveTextContent('two files');
  });

  it('sends files without text once they have uploaded, and pasted files are attached', async () => {
    renderAt(`/chats/${D}`);
    await screen.findByText('send me the files');
    const input = screen.getByTestId('composer-input');
    // A pasted picture: attached, not pasted as text.
    const picture = new File([new Uint8Array(64)], 'image.png', { type: 'image/png' });
    const clipboardData = { files: [picture], types: ['Files'], getData: () => '' };
    fireEvent.paste(input, { clipboardData });
    await waitFor(() => expect(uploads).toHaveLength(1));
    expect(tiles().map((t) => t.dataset.name)).toEqual(['image.png']);
    // Pictures may go in original quality: the toggle uploads them again as such.
    await userEvent.click(screen.getByTestId('original-quality'));
    await waitFor(() => expect(uploads).toHaveLength(2));
    expect(uploads[0]!.aborted).toBe(true);
    expect(uploads[1]!.fields[0]).toEqual(['quality', 'original']);

    expect(screen.getByTestId('send-button')).toBeDisabled();
    const pic = uploaded('image.png', 'image');
    act(() => uploads[1]!.reply(201, pic));
    await waitFor(() => expect(screen.getByTestId('send-button')).toBeEnabled());
    expect(input).toHaveValue('');
    await userEvent.click(screen.getByTestId('send-button'));
    await waitFor(() => expect(sendPosts()).toHaveLength(1));
    expect(sendPosts()[0]).toMatchObject({ body: '', attachments: [pic.id] });
    expect(tiles()).toHaveLength(0);
  });

  it('attaches files dropped on the chat', async () => {
    renderAt(`/chats/${D}`);
    await screen.findByText('send me the files');
    const view = screen.getByTestId('chat-view');
    const dropped = [file('dropped.pdf'), file('also.pdf')];
    const dataTransfer = { types: ['Files'], files: dropped, dropEffect: 'none' };
    fireEvent.dragEnter(view, { dataTransfer });
    expect(screen.getByTestId('drop-overlay')).toHaveTextContent('Drop files to send them');
    fireEvent.dragOver(view, { dataTransfer });
    fireEvent.drop(view, { dataTransfer });
    expect(screen.queryByTestId('drop-overlay')).toBeNull();
    expect(tiles().map((t) => t.dataset.name)).toEqual(['dropped.pdf', 'also.pdf']);
    await waitFor(() => expect(uploads).toHaveLength(2));
    // Dragging text is not a file drop.
    fireEvent.dragEnter(view, { dataTransfer: { types: ['text/plain'], files: [] } });
    expect(screen.queryByTestId('drop-overlay')).toBeNull();
  });

  it('takes at most ten files for one message', async () => {
    renderAt(`/chats/${D}`);
    await screen.findByText('send me the files');
    attach(...Array.from({ length: 12 }, (_, i) => file(`f${i}.pdf`)));
    expect(tiles()).toHaveLength(10);
    expect(await screen.findByTestId('toast')).toHaveTextContent('at most 10 files');
    // Three at a time.
    await waitFor(() => expect(uploads).toHaveLength(3));
  });
});
