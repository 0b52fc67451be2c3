import type { Attachment, Message, MessagePriority } from '@parley/contracts';
import { type DragEvent, Suspense, lazy, useCallback, useEffect, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { useAuthStore } from '../auth/auth-store';
import { ChatIcon } from '../components/ChatIcon';
import { closeLightbox, useLightboxStore } from '../media/lightbox-store';
import { attachFiles } from '../media/UploadTray';
import { editMessage, errorText, sendMessage, sendTyping } from '../messaging/actions';
import { isIncomingRequest, useChatsStore } from '../messaging/chats-store';
import { useMembersStore } from '../messaging/members-store';
import { useMessagesStore } from '../messaging/messages-store';
import { loadMembers, refreshChat } from '../messaging/sync';
import { useContactsStore } from '../people/contacts-store';
import { ChatHeader } from './ChatHeader';
import {
  BlockedNotice,
  CantMessageNotice,
  ContactOffer,
  RequestBanner,
  RequestDeclined,
  RequestWaiting,
} from './ChatNotices';
import { Composer } from './Composer';
import { MessageList } from './MessageList';
import { showToast } from './toast';
import { TypingIndicator } from './TypingIndicator';

// Dialogs load their code when first opened.
const GroupSettingsDialog = lazy(() =>
  import('./GroupSettingsDialog').then((m) => ({ default: m.GroupSettingsDialog })),
);
const Lightbox = lazy(() => import('../media/Lightbox').then((m) => ({ default: m.Lightbox })));
const MediaGallery = lazy(() => import('../media/MediaGallery').then((m) => ({ default: m.MediaGallery })));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One chat: header, messages, typing line and composer. */
export function ChatView({ chatId, focusMessageId }: { chatId: string; focusMessageId: string | null }) {
  const me = useAuthStore((s) => s.user?.id ?? '');
  const chat = useChatsStore((s) => s.chats[chatId]);
  const chatsLoaded = useChatsStore((s) => s.loaded);
  const navigate = useNavigate();
  const [missing, setMissing] = useState(() => !UUID.test(chatId));
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [editing, setEditing] = useState<Message | null>(null);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [galleryOpen, setGalleryOpen] = useState(false);
  const [dropping, setDropping] = useState(false);
  const dragDepth = useRef(0);
  // A lightbox opened here does not outlive the chat.
  useEffect(() => closeLightbox, []);
  // The lightbox's code loads at the first picture opened; it stays mounted from then on.
  const lightboxOpen = useLightboxStore((s) => s.items.length > 0);
  const [lightboxUsed, setLightboxUsed] = useState(false);
  if (lightboxOpen && !lightboxUsed) setLightboxUsed(true);
  const peer = chat?.kind === 'direct' ? chat.peer : null;
  const blockedPeer = useContactsStore((s) => (peer ? Boolean(s.blocked[peer.id]) : false));
  // The server refused a message here with BLOCKED (the other person blocked me).
  const refused = useMessagesStore(
    (s) => s.byChat[chatId]?.pending.some((p) => p.status === 'failed' && p.errorCode === 'BLOCKED') ?? false,
  );
  const members = useMembersStore((s) => s.byChat[chatId]);

  // A chat not in the list (opened by link, or just removed): ask for it once.
  useEffect(() => {
    if (chat || !chatsLoaded || missing) return;
    let cancelled = false;
    refreshChat(chatId)
      .then((c) => {
        if (!cancelled && !c) setMissing(true);
      })
      .catch(() => {
        if (!cancelled) setMissing(true);
      });
    return () => {
      cancelled = true;
    };
  }, [chat, chatsLoaded, chatId, missing]);

  const known = chat !== undefined;
  useEffect(() => {
    if (known) loadMembers(chatId).catch(() => {});
  }, [known, chatId]);

  const onReply = useCallback((m: Message) => {
    setEditing(null);
    setReplyTo(m);
  }, []);
  const onEdit = useCallback((m: Message) => {
    setReplyTo(null);
    setEditing(m);
  }, []);

  // Not found earlier, but here now (added back to the group): the chat shows.
  if (missing && !chat) {
    return (
      <div className="chat-empty" data-testid="chat-not-found" data-chat-id={chatId}>
        <ChatIcon />
        <h2>Chat not found</h2>
        <p className="muted">It may have been deleted, or you are no longer a member.</p>
        <Link to="/" className="button button--ghost">
          Back to chats
        </Link>
      </div>
    );
  }
  if (!chat) {
    return (
      <div className="chat-empty" role="status">
        <span className="spinner" aria-hidden="true" />
      </div>
    );
  }

  const send = (body: string, priority: MessagePriority, attachments: Attachment[]) => {
    // Sending from a window around an old message: go to the newest, where it will appear.
    if (focusMessageId || useMessagesStore.getState().byChat[chatId]?.hasMoreAfter)
      navigate(`/chats/${chatId}`);
    sendMessage(chatId, body, replyTo, priority, attachments);
    setReplyTo(null);
  };
  // ↑ in the empty composer: my newest message still there, if it is text.
  const editLast = () => {
    const cm = useMessagesStore.getState().byChat[chatId];
    if (!cm) return;
    for (let i = cm.order.length - 1; i >= 0; i -= 1) {
      const m = cm.byId[cm.order[i]!];
      if (m && m.senderId === me && m.kind === 'text' && !m.deletedAt) {
        onEdit(m);
        return;
      }
    }
  };
  const saveEdit = (body: string) => {
    const target = editing;
    setEditing(null);
    if (target) editMessage(target, body).catch((err) => showToast(errorText(err), 'error'));
  };

  const composing =
    !(peer && blockedPeer) &&
    !(peer && isIncomingRequest(chat, me)) &&
    !(peer && chat.request?.state === 'rejected' && chat.request.requestedBy === me);
  // Files dropped anywhere on the chat go to the composer (not while editing a message).
  const hasFiles = (e: DragEvent) => composing && !editing && e.dataTransfer.types.includes('Files');
  const dropHandlers = {
    onDragEnter: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      dragDepth.current += 1;
      setDropping(true);
    },
    onDragOver: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    },
    onDragLeave: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      dragDepth.current = Math.max(0, dragDepth.current - 1);
      if (dragDepth.current === 0) setDropping(false);
    },
    onDrop: (e: DragEvent) => {
      dragDepth.current = 0;
      setDropping(false);
      if (!hasFiles(e)) return;
      e.preventDefault();
      attachFiles(chat.id, [...e.dataTransfer.files]);
    },
  };

  return (
    <div className="chat-view" data-testid="chat-view" data-chat-id={chat.id} {...dropHandlers}>
      {dropping && (
        <div className="drop-overlay" data-testid="drop-overlay" aria-hidden="true">
          <span>Drop files to send them</span>
        </div>
      )}
      <ChatHeader
        chat={chat}
        onOpenSettings={() => setSettingsOpen(true)}
        onOpenMedia={() => setGalleryOpen(true)}
      />
      <MessageList chat={chat} me={me} focusMessageId={focusMessageId} onReply={onReply} onEdit={onEdit} />
      <TypingIndicator chat={chat} me={me} />
      {peer && blockedPeer ? (
        <BlockedNotice peer={peer} />
      ) : peer && isIncomingRequest(chat, me) ? (
        <RequestBanner chat={chat} peer={peer} />
      ) : peer && chat.request?.state === 'rejected' && chat.request.requestedBy === me ? (
        <RequestDeclined peer={peer} />
      ) : (
        <>
          {peer && chat.request?.state === 'pending' && <RequestWaiting chat={chat} peer={peer} me={me} />}
          {peer && refused && <CantMessageNotice name={peer.displayName} />}
          {peer && <ContactOffer chat={chat} peer={peer} />}
          <Composer
            key={editing?.id ?? 'new'}
            chatId={chat.id}
            replyTo={replyTo}
            editing={editing}
            members={members}
            me={me}
            onSend={send}
            onSaveEdit={saveEdit}
            onCancelReply={() => setReplyTo(null)}
            onCancelEdit={() => setEditing(null)}
            onTyping={(typing) => sendTyping(chat.id, typing)}
            onEditLast={editLast}
          />
        </>
      )}
      <Suspense fallback={null}>
        {settingsOpen && chat.kind === 'group' && (
          <GroupSettingsDialog chat={chat} me={me} onClose={() => setSettingsOpen(false)} />
        )}
        {galleryOpen && <MediaGallery chatId={chat.id} onClose={() => setGalleryOpen(false)} />}
      </Suspense>
      {lightboxUsed && (
        <Suspense fallback={null}>
          <Lightbox />
        </Suspense>
      )}
    </div>
  );
}
