import { systemEventText } from '@parley/contracts';
import * as Menu from '@radix-ui/react-dropdown-menu';
import type { Chat, DeleteScope, Message } from '@parley/contracts';
import { type MouseEvent, type ReactNode, Suspense, lazy, memo, useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { useAuthStore } from '../auth/auth-store';
import { deleteMessage, discardPending, errorText, retryMessage, toggleReaction } from '../messaging/actions';
import { type MemberMap, directReceipt, readBy } from '../messaging/members-store';
import type { PendingMessage } from '../messaging/messages-store';
import { MessageAttachments } from '../media/Attachments';
import { fullTime, timeOf } from './format';
import { AlertIcon, CheckIcon, ClockIcon, TimerIcon } from './Icons';
import type { MessageAction } from './MessageActionSheet';
import { MessageBody } from './MessageBody';
import { showToast } from './toast';
import { confirm } from './confirm';
import { plainText } from './plain-text';
import { useLongPress } from './use-long-press';
import { COMPACT_QUERY, useMediaQuery } from './use-media-query';

// The sheet (on Radix's dialog) loads when a message's actions are first opened on a phone.
const MessageActionSheet = lazy(() =>
  import('./MessageActionSheet').then((m) => ({ default: m.MessageActionSheet })),
);

export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

/** Inside these a tap is the element's own (a link, a picture, a button), not "open the actions". */
const OWN_TAP = 'a, button, input, textarea, select, video, audio, [role="button"], [role="slider"]';

/**
 * Whether a tap (click) or long-press (contextmenu) on a message should open its actions:
 * not on a control inside it, not while text in it is selected.
 */
export function opensActions(target: EventTarget | null): boolean {
  if (!(target instanceof Element) || target.closest(OWN_TAP)) return false;
  return !(window.getSelection()?.toString() ?? '');
}

export function messageLink(chatId: string, messageId: string): string {
  return `${location.origin}/chats/${chatId}/messages/${messageId}`;
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a LAN address has no async clipboard API.
  const area = document.createElement('textarea');
  area.value = text;
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy failed');
}

export function SystemLine({ message }: { message: Message }) {
  return (
    <div
      className="system-line"
      data-testid="system-message"
      data-message-id={message.id}
      data-seq={message.seq}
    >
      <span>{message.system ? systemEventText(message.system) : message.body}</span>
    </div>
  );
}

function ReplyQuote({
  reply,
  onJump,
}: {
  reply: NonNullable<Message['replyTo']>;
  onJump?: (id: string) => void;
}) {
  return (
    <button
      type="button"
      className="reply-quote"
      onClick={() => onJump?.(reply.id)}
      disabled={!onJump}
      data-testid="reply-quote"
      data-reply-to={reply.id}
    >
      <span className="reply-quote__sender">{reply.senderName ?? 'Someone'}</span>
      <span className="reply-quote__text">
        {reply.deleted ? 'This message was deleted' : plainText(reply.bodyPreview)}
      </span>
    </button>
  );
}

const NO_MENTIONS: Record<string, string> = {};

/** username → id of the people a message mentions, from what the client knows of them. */
export function mentionMap(
  message: Pick<Message, 'mentions' | 'sender'>,
  members: MemberMap | undefined,
  me: { id: string; username: string } | null,
): Record<string, string> {
  if (message.mentions.length === 0) return NO_MENTIONS;
  const out: Record<string, string> = {};
  for (const userId of message.mentions) {
    const username =
      members?.[userId]?.user.username ??
      (me?.id === userId ? me.username : undefined) ??
      (message.sender?.id === userId ? message.sender.username : undefined);
    if (username) out[username] = userId;
  }
  return out;
}

const priorityLabels = { high: 'Important', urgent: 'Urgent' } as const;

function PriorityLabel({ priority }: { priority: Message['priority'] }) {
  if (priority === 'normal') return null;
  return (
    <span className={`priority-label priority-label--${priority}`} data-testid="priority-label">
      {priority === 'urgent' ? '‼' : '!'} {priorityLabels[priority]}
    </span>
  );
}

interface ItemProps {
  message: Message;
  chat: Pick<Chat, 'id' | 'kind' | 'myRole'>;
  me: string;
  members: MemberMap | undefined;
  showSender: boolean;
  highlight: boolean;
  /** Search terms to mark in the text (opened from a search result). */
  marks?: readonly string[] | undefined;
  onReply: (m: Message) => void;
  onEdit: (m: Message) => void;
  onJump: (messageId: string) => void;
}

/** What my message's ticks say: the peer's positions in a direct chat, everyone's in a group. */
export function receiptStatus(
  message: Message,
  chat: Pick<Chat, 'kind'>,
  me: string,
  members: MemberMap | undefined,
): 'received' | 'sent' | 'delivered' | 'read' {
  if (message.senderId !== me) return 'received';
  if (chat.kind === 'direct') return directReceipt(members, me, message.seq);
  const counts = readBy(members, me, message.seq);
  if (counts.of > 0 && counts.read === counts.of) return 'read';
  return counts.delivered > 0 ? 'delivered' : 'sent';
}

const receiptLabels = { sent: 'Sent', delivered: 'Delivered', read: 'Read' } as const;

function Receipt({ message, chat, me, members }: Pick<ItemProps, 'message' | 'chat' | 'me' | 'members'>) {
  const status = receiptStatus(message, chat, me, members);
  if (status === 'received') return null;
  const counts = chat.kind === 'group' && members ? readBy(members, me, message.seq) : null;
  return (
    <>
      <span
        className={`receipt receipt--${status}`}
        data-testid="receipt"
        data-receipt={status}
        title={receiptLabels[status]}
        aria-label={receiptLabels[status]}
      >
        <CheckIcon double={status !== 'sent'} />
      </span>
      {counts && (
        <span className="read-by" data-testid="read-by" data-read={counts.read} data-of={counts.of}>
          Read by {counts.read} of {counts.of}
        </span>
      )}
    </>
  );
}

export const MessageItem = memo(function MessageItem({
  message,
  chat,
  me,
  members,
  showSender,
  highlight,
  marks,
  onReply,
  onEdit,
  onJump,
}: ItemProps) {
  // The toolbar's popups on a wide screen with a mouse; the sheet on a narrow or touch one.
  const [menu, setMenu] = useState<'actions' | 'emoji' | 'sheet' | null>(null);
  const compact = useMediaQuery(COMPACT_QUERY);
  const close = () => setMenu(null);
  const mine = message.senderId === me;
  const deleted = message.deletedAt !== null;
  const canDeleteForEveryone =
    mine || (chat.kind === 'group' && (chat.myRole === 'admin' || chat.myRole === 'owner'));
  const status = receiptStatus(message, chat, me, members);
  const self = useAuthStore((s) => s.user);
  const selfRef = useMemo(() => (self ? { id: self.id, username: self.username } : null), [self]);
  const mentions = useMemo(() => mentionMap(message, members, selfRef), [message, members, selfRef]);
  const mentionsMe = !mine && message.mentions.includes(me);
  const priority = deleted ? 'normal' : message.priority;

  async function run(action: () => Promise<void>) {
    close();
    try {
      await action();
    } catch (err) {
      showToast(errorText(err), 'error');
    }
  }
  const remove = async (scope: DeleteScope) => {
    if (
      scope === 'everyone' &&
      !(await confirm({
        title: 'Delete for everyone?',
        description: 'The message is removed for everyone in this chat. This cannot be undone.',
        confirmLabel: 'Delete',
      }))
    )
      return;
    await run(() => deleteMessage(message, scope));
  };
  const react = (emoji: string) => void run(() => toggleReaction(message, emoji));
  // One list for the "More" menu and the sheet.
  const actions: MessageAction[] = [
    { key: 'reply', label: 'Reply', testId: 'menu-reply-button', run: () => onReply(message) },
    ...(mine && message.kind === 'text'
      ? [{ key: 'edit', label: 'Edit', testId: 'edit-button', run: () => onEdit(message) }]
      : []),
    {
      key: 'copy',
      label: 'Copy link',
      testId: 'copy-link-button',
      run: () =>
        void run(async () => {
          await copyText(messageLink(message.chatId, message.id));
          showToast('Link copied');
        }),
    },
    ...(canDeleteForEveryone
      ? [
          {
            key: 'delete-everyone',
            label: 'Delete for everyone',
            danger: true,
            testId: 'delete-everyone-button',
            run: () => void remove('everyone'),
          },
        ]
      : []),
    {
      key: 'delete-me',
      label: 'Delete for me',
      danger: true,
      testId: 'delete-me-button',
      run: () => void remove('me'),
    },
  ];
  // Narrow or touch: a tap on the message, or a long-press (contextmenu, or a finger held
  // where the browser sends none), opens the sheet.
  const openSheet = (e: MouseEvent) => {
    if (!compact || deleted || !opensActions(e.target)) return;
    e.preventDefault();
    setMenu('sheet');
  };
  const longPress = useLongPress((target) => {
    if (compact && !deleted && opensActions(target)) setMenu('sheet');
  });
  // What the React and More menus share: a dropdown on a wide screen, the sheet otherwise.
  const toolMenu = {
    compact,
    sheetOpen: menu === 'sheet',
    onSheet: () => setMenu('sheet'),
    align: mine ? ('start' as const) : ('end' as const),
  };

  return (
    <div
      className={`message${mine ? ' message--mine' : ''}${highlight ? ' message--highlight' : ''}${deleted ? ' message--deleted' : ''}${mentionsMe && !deleted ? ' message--mentioned' : ''}${priority !== 'normal' ? ` message--${priority}` : ''}`}
      data-testid="message"
      data-message-id={message.id}
      data-seq={message.seq}
      data-status={status}
      data-mine={mine}
      data-priority={priority}
      data-mentioned={mentionsMe}
    >
      {/* A tap on the message is a touch shortcut to its actions; from a keyboard they are
          the toolbar's buttons (focusable at every width). */}
      {/* eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-static-element-interactions */}
      <div
        className={`message__bubble${!deleted && message.attachments.length ? ' message__bubble--media' : ''}`}
        onClick={openSheet}
        onContextMenu={openSheet}
        {...longPress}
      >
        <PriorityLabel priority={priority} />
        {showSender && !mine && (
          <div className="message__sender">
            {message.senderId ? (
              <Link to={`/users/${message.senderId}`} data-testid="message-sender">
                {message.sender?.displayName ?? 'Someone'}
              </Link>
            ) : (
              'Someone'
            )}
          </div>
        )}
        {message.replyTo && !deleted && <ReplyQuote reply={message.replyTo} onJump={onJump} />}
        {deleted ? (
          <p className="message__tombstone" data-testid="message-deleted">
            This message was deleted
          </p>
        ) : (
          <>
            {message.attachments.length > 0 && <MessageAttachments attachments={message.attachments} />}
            {(message.body || message.attachments.length === 0) && (
              <MessageBody text={message.body} mentions={mentions} {...(marks ? { marks } : {})} />
            )}
          </>
        )}
        <div className="message__meta">
          {message.expiresAt && !deleted && (
            <span
              className="message__expires"
              title={`Disappears ${fullTime(message.expiresAt)}`}
              aria-label={`Disappears ${fullTime(message.expiresAt)}`}
              data-testid="message-expires"
            >
              <TimerIcon />
            </span>
          )}
          {message.editedAt && !deleted && (
            <span className="message__edited" data-testid="message-edited">
              (edited)
            </span>
          )}
          <time dateTime={message.createdAt} title={fullTime(message.createdAt)}>
            {timeOf(message.createdAt)}
          </time>
          {mine && !deleted && <Receipt message={message} chat={chat} me={me} members={members} />}
        </div>
      </div>
      {message.reactions.length > 0 && (
        <div className="reactions" data-testid="reactions">
          {message.reactions.map((r) => {
            const reacted = r.userIds.includes(me);
            return (
              <button
                key={r.emoji}
                type="button"
                className={`reaction-chip${reacted ? ' reaction-chip--mine' : ''}`}
                aria-pressed={reacted}
                onClick={() => void run(() => toggleReaction(message, r.emoji))}
                data-testid="reaction-chip"
                data-emoji={r.emoji}
                data-count={r.userIds.length}
              >
                <span>{r.emoji}</span> <span>{r.userIds.length}</span>
              </button>
            );
          })}
        </div>
      )}
      {!deleted && (
        <div className={`message__tools${menu ? ' message__tools--open' : ''}`}>
          <ToolMenu
            {...toolMenu}
            open={menu === 'emoji'}
            onOpenChange={(o) => setMenu(o ? 'emoji' : null)}
            title="React"
            label="React"
            testId="reaction-button"
            glyph="☺"
            className="emoji-picker"
            menuTestId="emoji-picker"
          >
            {QUICK_EMOJI.map((emoji) => (
              <Menu.Item key={emoji} asChild onSelect={() => react(emoji)}>
                <button
                  type="button"
                  className="emoji-picker__option"
                  data-testid="reaction-option"
                  data-emoji={emoji}
                >
                  {emoji}
                </button>
              </Menu.Item>
            ))}
          </ToolMenu>
          <button
            type="button"
            className="icon-button"
            title="Reply"
            aria-label="Reply"
            onClick={() => onReply(message)}
            data-testid="reply-button"
          >
            ↩
          </button>
          <ToolMenu
            {...toolMenu}
            open={menu === 'actions'}
            onOpenChange={(o) => setMenu(o ? 'actions' : null)}
            title="More"
            label="More actions"
            testId="message-menu-button"
            glyph="⋯"
            className="menu"
            menuTestId="message-menu"
          >
            {actions.map((a) => (
              <Menu.Item key={a.key} asChild onSelect={a.run}>
                <button
                  type="button"
                  className={a.danger ? 'menu__danger' : undefined}
                  data-testid={a.testId}
                >
                  {a.label}
                </button>
              </Menu.Item>
            ))}
          </ToolMenu>
        </div>
      )}
      {menu === 'sheet' && (
        <Suspense fallback={null}>
          <MessageActionSheet
            preview={
              message.body ? plainText(message.body) : message.attachments.map((a) => a.name).join(', ')
            }
            emoji={QUICK_EMOJI}
            onReact={react}
            actions={actions}
            onClose={close}
          />
        </Suspense>
      )}
    </div>
  );
});

/**
 * A toolbar button with its menu: on a wide screen a Radix dropdown beside the message; on
 * a narrow or touch one the button opens the action sheet instead.
 */
function ToolMenu({
  compact,
  open,
  sheetOpen,
  onOpenChange,
  onSheet,
  title,
  label,
  testId,
  glyph,
  align,
  className,
  menuTestId,
  children,
}: {
  compact: boolean;
  open: boolean;
  sheetOpen: boolean;
  onOpenChange: (open: boolean) => void;
  onSheet: () => void;
  title: string;
  label: string;
  testId: string;
  glyph: string;
  align: 'start' | 'end';
  className: string;
  menuTestId: string;
  children: ReactNode;
}) {
  if (compact) {
    return (
      <button
        type="button"
        className="icon-button"
        title={title}
        aria-label={label}
        aria-haspopup="dialog"
        aria-expanded={sheetOpen}
        onClick={onSheet}
        data-testid={testId}
      >
        {glyph}
      </button>
    );
  }
  return (
    <Menu.Root open={open} onOpenChange={onOpenChange} modal={false}>
      <Menu.Trigger asChild>
        <button type="button" className="icon-button" title={title} aria-label={label} data-testid={testId}>
          {glyph}
        </button>
      </Menu.Trigger>
      <Menu.Portal>
        <Menu.Content
          className={`popup popup--floating ${className}`}
          align={align}
          sideOffset={4}
          collisionPadding={8}
          data-testid={menuTestId}
        >
          {children}
        </Menu.Content>
      </Menu.Portal>
    </Menu.Root>
  );
}

/** My message on its way: clock while sending, red with Retry when it failed. */
export function PendingItem({ pending, onJump }: { pending: PendingMessage; onJump: (id: string) => void }) {
  const failed = pending.status === 'failed';
  return (
    <div
      className={`message message--mine message--${pending.status}${pending.priority !== 'normal' ? ` message--${pending.priority}` : ''}`}
      data-testid="message"
      data-client-msg-id={pending.clientMsgId}
      data-status={pending.status}
      data-mine="true"
      data-priority={pending.priority}
    >
      <div className={`message__bubble${pending.attachments?.length ? ' message__bubble--media' : ''}`}>
        <PriorityLabel priority={pending.priority} />
        {pending.replyTo && <ReplyQuote reply={pending.replyTo} onJump={onJump} />}
        {pending.attachments?.length ? <MessageAttachments attachments={pending.attachments} /> : null}
        {(pending.body || !pending.attachments?.length) && <MessageBody text={pending.body} />}
        <div className="message__meta">
          <time dateTime={pending.createdAt}>{timeOf(pending.createdAt)}</time>
          {failed ? (
            <span
              className="receipt receipt--failed"
              data-testid="receipt"
              data-receipt="failed"
              title={pending.error ?? 'Not sent'}
            >
              <AlertIcon />
            </span>
          ) : (
            <span
              className="receipt receipt--pending"
              data-testid="receipt"
              data-receipt="pending"
              title="Sending…"
              aria-label="Sending"
            >
              <ClockIcon />
            </span>
          )}
        </div>
      </div>
      {failed && (
        <div
          className="message__failed"
          role="alert"
          data-testid="send-error"
          data-code={pending.errorCode ?? ''}
        >
          <span>{pending.error ?? 'Not sent.'}</span>
          <button
            type="button"
            className="link-button"
            onClick={() => void retryMessage(pending.chatId, pending.clientMsgId)}
            data-testid="retry-button"
          >
            Retry
          </button>
          <button
            type="button"
            className="link-button"
            onClick={() => discardPending(pending.chatId, pending.clientMsgId)}
            data-testid="discard-button"
          >
            Discard
          </button>
        </div>
      )}
    </div>
  );
}
