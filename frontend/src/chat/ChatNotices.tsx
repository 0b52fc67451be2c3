/**
 * What a direct chat shows around (or instead of) the composer when it is not a plain
 * conversation: a request waiting for my answer, my own request waiting for theirs or
 * declined, a person I blocked, or a person who refuses my messages.
 */
import { CHAT_REQUEST_MESSAGE_LIMIT, type Chat, type PublicUser } from '@parley/contracts';
import { useState, type ReactNode } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { errorText } from '../messaging/actions';
import { acceptChatRequest, openDirectChat, rejectChatRequest } from '../messaging/chat-actions';
import { emptyChatMessages, useMessagesStore } from '../messaging/messages-store';
import { blockUser, confirmBlock, unblockUser } from '../people/people-actions';
import { useContactsStore } from '../people/contacts-store';
import { requestContact } from '../people/people-actions';
import { create } from 'zustand';
import { showChatList } from './ChatList';
import { showToast } from './toast';

/** Direct chats whose request I accepted here, not yet answered "Add contact" or "Not now". */
const useContactOffers = create<{ chatIds: Record<string, true> }>(() => ({ chatIds: {} }));
const dropOffer = (chatId: string) =>
  useContactOffers.setState((s) => {
    const { [chatId]: _gone, ...rest } = s.chatIds;
    return { chatIds: rest };
  });

function useBusy() {
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    try {
      await action();
    } catch (err) {
      showToast(errorText(err), 'error');
    } finally {
      setBusy(false);
    }
  };
  return { busy, run };
}

/** Someone I have no contact with wants to chat: accept, reject or block. Replaces the composer. */
/** One action button of a notice; disabled while any action of that notice runs. */
function NoticeAction(props: {
  variant: 'primary' | 'ghost' | 'danger';
  busy: boolean;
  testId: string;
  onClick: () => void;
  children: ReactNode;
}) {
  return (
    <button
      type="button"
      className={`button button--${props.variant} button--small`}
      disabled={props.busy}
      onClick={props.onClick}
      data-testid={props.testId}
    >
      {props.children}
    </button>
  );
}

export function RequestBanner({ chat, peer }: { chat: Chat; peer: PublicUser }) {
  const navigate = useNavigate();
  const { busy, run } = useBusy();
  return (
    <div
      className="chat-notice chat-notice--request"
      role="region"
      aria-label="Chat request"
      data-testid="chat-request-banner"
    >
      <p className="chat-notice__text">
        <strong>
          <Link to={`/users/${peer.id}`}>{peer.displayName}</Link> wants to chat
        </strong>
        <span className="muted">
          {' '}
          · @{peer.username}. They are not in your contacts; they won’t know you’ve seen their messages until
          you accept.
        </span>
      </p>
      <div className="chat-notice__actions">
        <NoticeAction
          variant="primary"
          busy={busy}
          testId="request-accept-button"
          onClick={() =>
            void run(async () => {
              await acceptChatRequest(chat.id);
              useContactOffers.setState((s) => ({ chatIds: { ...s.chatIds, [chat.id]: true } }));
              showChatList('main');
            })
          }
        >
          Accept
        </NoticeAction>
        <NoticeAction
          variant="ghost"
          busy={busy}
          testId="request-reject-button"
          onClick={() =>
            void run(async () => {
              await rejectChatRequest(chat.id);
              showToast('Request rejected');
              navigate('/');
            })
          }
        >
          Reject
        </NoticeAction>
        <NoticeAction
          variant="danger"
          busy={busy}
          testId="request-block-button"
          onClick={() =>
            void (async () => {
              if (!(await confirmBlock(peer))) return;
              await run(async () => {
                await blockUser(peer);
                showToast(`Blocked ${peer.displayName}`);
              });
            })()
          }
        >
          Block
        </NoticeAction>
      </div>
    </div>
  );
}

/** My request: how many of the allowed messages I have used. Shown above the composer. */
export function RequestWaiting({ chat, peer, me }: { chat: Chat; peer: PublicUser; me: string }) {
  const cm = useMessagesStore((s) => s.byChat[chat.id]) ?? emptyChatMessages;
  const sent =
    cm.order.filter((id) => {
      const m = cm.byId[id];
      return m?.kind === 'text' && m.senderId === me;
    }).length + cm.pending.filter((p) => p.status === 'pending').length;
  const used = Math.min(sent, CHAT_REQUEST_MESSAGE_LIMIT);
  return (
    <div
      className="chat-notice chat-notice--waiting"
      role="status"
      data-testid="request-waiting"
      data-sent={used}
    >
      {used >= CHAT_REQUEST_MESSAGE_LIMIT ? (
        <p className="chat-notice__text">
          Waiting for {peer.displayName} to accept. You have sent {used} of {CHAT_REQUEST_MESSAGE_LIMIT}{' '}
          messages; you can write more once they accept.
        </p>
      ) : (
        <p className="chat-notice__text">
          Waiting for {peer.displayName} to accept ({used} of {CHAT_REQUEST_MESSAGE_LIMIT} messages)
        </p>
      )}
    </div>
  );
}

/** My request was declined: no writing; asking again works after the hold. Replaces the composer. */
export function RequestDeclined({ peer }: { peer: PublicUser }) {
  const { busy, run } = useBusy();
  return (
    <div className="chat-notice chat-notice--declined" role="status" data-testid="request-declined">
      <p className="chat-notice__text">{peer.displayName} declined your chat request.</p>
      <div className="chat-notice__actions">
        <NoticeAction
          variant="ghost"
          busy={busy}
          testId="request-again-button"
          onClick={() => void run(async () => void (await openDirectChat(peer.id)))}
        >
          Ask again
        </NoticeAction>
      </div>
    </div>
  );
}

/** I blocked the other person. Replaces the composer. */
export function BlockedNotice({ peer }: { peer: PublicUser }) {
  const { busy, run } = useBusy();
  return (
    <div className="chat-notice chat-notice--blocked" role="status" data-testid="chat-blocked">
      <p className="chat-notice__text">
        You blocked <Link to={`/users/${peer.id}`}>{peer.displayName}</Link>
      </p>
      <div className="chat-notice__actions">
        <NoticeAction
          variant="ghost"
          busy={busy}
          testId="unblock-button"
          onClick={() =>
            void run(async () => {
              await unblockUser(peer);
              showToast(`Unblocked ${peer.displayName}`);
            })
          }
        >
          Unblock
        </NoticeAction>
      </div>
    </div>
  );
}

/** The server refused my message with BLOCKED: the other person blocked me (or I them, elsewhere). */
export function CantMessageNotice({ name }: { name: string }) {
  return (
    <div className="chat-notice chat-notice--refused" role="alert" data-testid="chat-cant-message">
      <p className="chat-notice__text">You can’t message {name}.</p>
    </div>
  );
}

/**
 * After I accepted someone's chat request: offer to add them as a contact (their next
 * chats then need no request), unless they are one already or a request is on its way.
 */
export function ContactOffer({ chat, peer }: { chat: Chat; peer: PublicUser }) {
  const offered = useContactOffers((s) => Boolean(s.chatIds[chat.id]));
  const known = useContactsStore(
    (s) => Boolean(s.contacts[peer.id]) || Object.values(s.requests).some((r) => r.user.id === peer.id),
  );
  const { busy, run } = useBusy();
  if (!offered || known) return null;
  return (
    <div className="chat-notice" role="region" aria-label="Add contact" data-testid="contact-offer">
      <p className="chat-notice__text">
        Add <strong>{peer.displayName}</strong> to your contacts? You can then message each other without a
        request.
      </p>
      <div className="chat-notice__actions">
        <NoticeAction
          variant="primary"
          busy={busy}
          testId="contact-offer-add"
          onClick={() =>
            void run(async () => {
              const done = await requestContact(peer.id);
              dropOffer(chat.id);
              showToast(
                done === 'added'
                  ? `${peer.displayName} is now a contact`
                  : `Contact request sent to ${peer.displayName}`,
              );
            })
          }
        >
          Add contact
        </NoticeAction>
        <NoticeAction
          variant="ghost"
          busy={busy}
          testId="contact-offer-dismiss"
          onClick={() => dropOffer(chat.id)}
        >
          Not now
        </NoticeAction>
      </div>
    </div>
  );
}
