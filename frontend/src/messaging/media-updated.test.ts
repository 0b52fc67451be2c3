/**
 * media:updated: an attachment's processing moved on. The attachment changes inside its
 * message (or inside my message still on its way, or my upload still in the composer),
 * cached URLs of it are dropped, a replay changes nothing, and nothing takes a settled
 * attachment back to pending (a late event, or a page fetched before the event).
 */
import type { Attachment, Message } from '@parley/contracts';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { useUploadStore } from '../media/upload-store';
import { clearMediaUrls, rememberMedia, useMediaUrlStore } from '../media/url-store';
import { BOB, ME, chat, id, message } from '../test/chat-fixtures';
import { attachment, media } from '../test/media-fixtures';
import { testUser } from '../test/stub-network';
import { applyEvent } from './apply-event';
import { useChatsStore } from './chats-store';
import {
  addPending,
  updateChatMessages,
  useMessagesStore,
  withLiveMessage,
  withPage,
} from './messages-store';

const C = id('media event chat');
const pendingPhoto = attachment('event photo', { status: 'pending', variants: [], placeholder: null });
const readyPhoto: Attachment = {
  ...pendingPhoto,
  status: 'ready',
  variants: ['preview', 'thumbnail'],
  placeholder: 'data:image/webp;base64,AAAA',
};
const withPhoto = message(C, 1, BOB, 'look', { attachments: [pendingPhoto] });

function load(messages: Message[]) {
  updateChatMessages(C, (cm) =>
    withPage(cm, { messages, hasMoreBefore: false, hasMoreAfter: false }, 'replace'),
  );
}
const stored = () => useMessagesStore.getState().byChat[C]!.byId[withPhoto.id]!;
const updated = (a: Attachment, messageId: string | null = withPhoto.id, chatId: string | null = C) =>
  applyEvent({ type: 'media:updated', data: { chatId, messageId, attachment: a } }, ME);

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  useMessagesStore.getState().clear();
  useChatsStore.getState().setAll([chat(C, { lastSeq: 1 })]);
  useUploadStore.setState({ byChat: {}, originalQuality: {} });
  clearMediaUrls();
});

describe('media:updated', () => {
  it('makes the attachment ready inside its message and drops its cached URLs', () => {
    load([withPhoto]);
    rememberMedia([media(pendingPhoto)]);
    expect(useMediaUrlStore.getState().byId[pendingPhoto.id]).toBeDefined();

    updated(readyPhoto);
    expect(stored().attachments).toEqual([readyPhoto]);
    expect(stored().body).toBe('look');
    expect(useMediaUrlStore.getState().byId[pendingPhoto.id]).toBeUndefined();

    // A replay changes nothing (same object).
    const before = useMessagesStore.getState().byChat[C];
    updated(readyPhoto);
    expect(useMessagesStore.getState().byChat[C]).toBe(before);
  });

  it('never goes back to pending: not by a late event, not by a page fetched before the event', () => {
    load([withPhoto]);
    updated(readyPhoto);
    updated(pendingPhoto);
    expect(stored().attachments[0]!.status).toBe('ready');
    // Same message version, fetched earlier: the attachment stays ready.
    load([withPhoto]);
    expect(stored().attachments[0]).toEqual(readyPhoto);
    // A failure is final too.
    const failedOther = attachment('other', { status: 'failed', failureReason: 'Unreadable', variants: [] });
    const two = message(C, 2, BOB, '', { attachments: [failedOther] });
    load([withPhoto, two]);
    updated({ ...failedOther, status: 'pending', failureReason: null }, two.id);
    expect(useMessagesStore.getState().byChat[C]!.byId[two.id]!.attachments[0]!.status).toBe('failed');
  });

  it('keeps what my message on its way heard when the server answered from before it', () => {
    load([]);
    const clientMsgId = id('ack after event');
    addPending({
      clientMsgId,
      chatId: C,
      body: '',
      priority: 'normal',
      replyTo: null,
      attachments: [pendingPhoto],
      createdAt: new Date().toISOString(),
      status: 'pending',
      error: null,
    });
    updated(readyPhoto, null, null);
    const ack = message(C, 2, ME, '', { clientMsgId, attachments: [pendingPhoto] });
    updateChatMessages(C, (cm) => withLiveMessage(cm, ack));
    const cm = useMessagesStore.getState().byChat[C]!;
    expect(cm.pending).toEqual([]);
    expect(cm.byId[ack.id]!.attachments).toEqual([readyPhoto]);
  });

  it('leaves messages it does not name alone, and a chat not loaded is not created', () => {
    load([withPhoto]);
    const other = id('another chat');
    updated(readyPhoto, id('no such message'));
    expect(stored().attachments[0]!.status).toBe('pending');
    updated(readyPhoto, withPhoto.id, other);
    expect(useMessagesStore.getState().byChat[other]?.order ?? []).toEqual([]);
  });

  it('updates my message on its way and my upload still in the composer (event without chat)', () => {
    addPending({
      clientMsgId: id('sending with photo'),
      chatId: C,
      body: '',
      priority: 'normal',
      replyTo: null,
      attachments: [pendingPhoto],
      createdAt: new Date().toISOString(),
      status: 'pending',
      error: null,
    });
    const otherUpload = attachment('in composer', { status: 'pending', variants: [] });
    useUploadStore.setState({
      byChat: {
        [C]: [
          {
            key: 'u1',
            chatId: C,
            file: new File(['x'], 'x.jpg', { type: 'image/jpeg' }),
            name: 'x.jpg',
            size: 1,
            isImage: true,
            previewUrl: null,
            quality: 'standard',
            status: 'done',
            progress: 1,
            error: null,
            media: media(otherUpload),
          },
        ],
      },
    });

    updated(readyPhoto, null, null);
    expect(useMessagesStore.getState().byChat[C]!.pending[0]!.attachments).toEqual([readyPhoto]);

    updated(
      { ...otherUpload, status: 'failed', failureReason: 'The picture could not be read.' },
      null,
      null,
    );
    const item = useUploadStore.getState().byChat[C]![0]!;
    expect(item.status).toBe('error');
    expect(item.error?.message).toBe('The picture could not be read.');
    expect(item.media?.status).toBe('failed');
  });
});
