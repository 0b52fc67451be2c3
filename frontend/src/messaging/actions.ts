import { previewText } from '@parley/contracts';
/**
 * What the user does to messages. Each goes over the WebSocket when it is up and over REST
 * otherwise (or when the socket drops mid-command: the same clientMsgId makes a repeated
 * send safe). Results are applied to the stores at once; the events that follow are no-ops.
 */
import type { Attachment, CommandData, DeleteScope, Message, MessagePriority } from '@parley/contracts';
import { api } from '../api/client';
import { networkProblem, retryAfterOf, toProblem } from '../api/errors';
import { attachmentsText } from '../media/format';
import { removeUpload } from '../media/media-api';
import { useAuthStore } from '../auth/auth-store';
import { RealtimeError } from '../realtime/realtime-client';
import { applyEvent, applyOwnRead } from './apply-event';
import { useChatsStore, withNewMessage } from './chats-store';
import {
  type PendingMessage,
  addPending,
  gapBefore,
  setPendingStatus,
  updateChatMessages,
  useMessagesStore,
  withLiveMessage,
  withReaction,
} from './messages-store';
import { getRealtime, reportGap } from './session';
import { newClientMsgId } from './uuid';

/** An action the server refused, with the message to show and the error code. */
export class ActionError extends Error {
  constructor(
    message: string,
    readonly code: string | null = null,
    /** The wait the server asked for before trying again (details.retryAfterMs). */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

function me(): string {
  return useAuthStore.getState().user?.id ?? '';
}

/**
 * Run a command over the socket if it is ready; `null` means "use REST" (not connected,
 * or the connection went away before the ack: the command may or may not have arrived).
 */
async function overSocket<T>(
  run: (rt: NonNullable<ReturnType<typeof getRealtime>>) => Promise<T>,
): Promise<T | null> {
  const rt = getRealtime();
  if (!rt?.isReady) return null;
  try {
    return await run(rt);
  } catch (err) {
    if (err instanceof RealtimeError && err.isTransport) return null;
    if (err instanceof RealtimeError) throw new ActionError(err.message, err.code, retryAfterOf(err.details));
    throw err;
  }
}

export function refused(status: number, body: unknown): never {
  const problem = toProblem(status, body);
  throw new ActionError(problem.message, problem.code, problem.retryAfterMs ?? null);
}

export function errorText(err: unknown): string {
  return err instanceof ActionError ? err.message : networkProblem().message;
}

/**
 * My message is confirmed (ack, REST answer): it takes its seq and the pending copy goes.
 * Its seq can be the first to show that others' messages before it never came.
 */
export function receiveOwnMessage(message: Message): void {
  const gap = gapBefore(useMessagesStore.getState().byChat[message.chatId], message);
  updateChatMessages(message.chatId, (cm) => withLiveMessage(cm, message));
  useChatsStore.getState().update(message.chatId, (c) => withNewMessage(c, message, me()));
  if (gap) reportGap(message.chatId, gap);
}

/** Show the message at once as pending, then send it (with finished uploads, in order). */
export function sendMessage(
  chatId: string,
  body: string,
  replyTo: Message | null,
  priority: MessagePriority = 'normal',
  attachments: Attachment[] = [],
): string {
  const clientMsgId = newClientMsgId();
  addPending({
    clientMsgId,
    chatId,
    body,
    priority,
    ...(attachments.length ? { attachments } : {}),
    replyTo: replyTo
      ? {
          id: replyTo.id,
          seq: replyTo.seq,
          senderId: replyTo.senderId,
          senderName: replyTo.sender?.displayName ?? null,
          bodyPreview: previewText(replyTo.body) || attachmentsText(replyTo.attachments),
          deleted: replyTo.deletedAt !== null,
        }
      : null,
    createdAt: new Date().toISOString(),
    status: 'pending',
    error: null,
  });
  void deliver(chatId, clientMsgId);
  return clientMsgId;
}

/** Refusals that mean "not now" rather than "no": the same send goes again by itself. */
const RETRYABLE_SEND_CODES: ReadonlySet<string> = new Set(['SERVICE_UNAVAILABLE', 'RATE_LIMITED']);
/** Automatic re-sends after such refusals before the message shows as failed (with Retry). */
export const SEND_RETRIES = 5;
/** The server's wait is kept within these bounds: no hammering, no endless clock. */
const SEND_RETRY_MIN_MS = 250;
const SEND_RETRY_MAX_MS = 30_000;
/** The wait when the refusal names none. */
const SEND_RETRY_DEFAULT_MS = 1_000;

/** How long to wait before sending again after this failure; null when it is final. */
function sendRetryDelay(err: unknown): number | null {
  if (!(err instanceof ActionError) || !err.code || !RETRYABLE_SEND_CODES.has(err.code)) return null;
  const wait = err.retryAfterMs ?? SEND_RETRY_DEFAULT_MS;
  return Math.min(SEND_RETRY_MAX_MS, Math.max(SEND_RETRY_MIN_MS, wait));
}

function findPending(chatId: string, clientMsgId: string): PendingMessage | undefined {
  return useMessagesStore.getState().byChat[chatId]?.pending.find((p) => p.clientMsgId === clientMsgId);
}

type SendInput = CommandData<'message:send'>;

/** One send over the socket, or over REST when the socket cannot take it. */
async function sendOnce(input: SendInput): Promise<Message> {
  const sent = await overSocket(async (rt) => (await rt.request('message:send', input)).message);
  if (sent) return sent;
  const { chatId, ...body } = input;
  const res = await api.messages.send({ params: { chatId }, body });
  if (res.status !== 200 && res.status !== 201) refused(res.status, res.body);
  return res.body;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Send (or re-send, after a failure) a pending message with its original clientMsgId, so
 * the server stores it once however often it arrives. A busy server (SERVICE_UNAVAILABLE,
 * RATE_LIMITED) gets the same send again after the wait it asks for, while the message
 * stays "sending"; any other refusal, or the last retry, shows it as failed.
 */
export async function deliver(chatId: string, clientMsgId: string): Promise<void> {
  const pending = findPending(chatId, clientMsgId);
  if (!pending) return;
  setPendingStatus(chatId, clientMsgId, 'pending', null);
  const input: SendInput = {
    chatId,
    clientMsgId,
    body: pending.body,
    ...(pending.attachments?.length ? { attachments: pending.attachments.map((a) => a.id) } : {}),
    ...(pending.replyTo ? { replyTo: pending.replyTo.id } : {}),
    ...(pending.priority !== 'normal' ? { priority: pending.priority } : {}),
  };
  for (let retries = 0; ; retries += 1) {
    try {
      receiveOwnMessage(await sendOnce(input));
      return;
    } catch (err) {
      const delay = retries < SEND_RETRIES ? sendRetryDelay(err) : null;
      if (delay === null) {
        const code = err instanceof ActionError ? err.code : null;
        setPendingStatus(chatId, clientMsgId, 'failed', sendErrorText(chatId, err), code);
        return;
      }
      await wait(delay);
      // Confirmed by its event, or signed out meanwhile: nothing left to send.
      if (!findPending(chatId, clientMsgId)) return;
    }
  }
}

/** Why a send failed, in words for this chat ("You can't message Bob." when blocked). */
function sendErrorText(chatId: string, err: unknown): string {
  if (err instanceof ActionError && err.code === 'BLOCKED') {
    const peer = useChatsStore.getState().chats[chatId]?.peer;
    return peer ? `You can't message ${peer.displayName}.` : "You can't message this person.";
  }
  return errorText(err);
}

export const retryMessage = deliver;

/** Give up on a failed message (it was never stored, nor were its uploads attached). */
export function discardPending(chatId: string, clientMsgId: string): void {
  for (const a of findPending(chatId, clientMsgId)?.attachments ?? []) void removeUpload(a.id);
  updateChatMessages(chatId, (cm) => ({
    ...cm,
    pending: cm.pending.filter((p) => p.clientMsgId !== clientMsgId),
  }));
}

export async function editMessage(message: Message, body: string): Promise<void> {
  let edited = await overSocket(
    async (rt) => (await rt.request('message:edit', { messageId: message.id, body })).message,
  );
  if (!edited) {
    const res = await api.messages.edit({ params: { messageId: message.id }, body: { body } });
    if (res.status !== 200) refused(res.status, res.body);
    edited = res.body;
  }
  applyEvent({ type: 'message:edited', data: { message: edited } }, me());
}

export async function deleteMessage(message: Message, scope: DeleteScope): Promise<void> {
  const done = await overSocket((rt) => rt.request('message:delete', { messageId: message.id, scope }));
  if (!done) {
    const res = await api.messages.remove({ params: { messageId: message.id }, query: { scope } });
    if (res.status !== 204) refused(res.status, res.body);
  }
  // As the server's event will say: the message's version goes up by one.
  applyEvent(
    {
      type: 'message:deleted',
      data: {
        chatId: message.chatId,
        messageId: message.id,
        seq: message.seq,
        scope,
        version: message.version + 1,
        deletedAt: scope === 'everyone' ? new Date().toISOString() : null,
      },
    },
    me(),
  );
}

export async function toggleReaction(message: Message, emoji: string): Promise<void> {
  const mine = message.reactions.some((r) => r.emoji === emoji && r.userIds.includes(me()));
  const op = mine ? 'remove' : 'add';
  const done = await overSocket((rt) =>
    rt.request(mine ? 'reaction:remove' : 'reaction:add', { messageId: message.id, emoji }),
  );
  if (!done) {
    const res = mine
      ? await api.messages.removeReaction({ params: { messageId: message.id, emoji } })
      : await api.messages.addReaction({ params: { messageId: message.id }, body: { emoji } });
    if (res.status !== 200) refused(res.status, res.body);
  }
  updateChatMessages(message.chatId, (cm) => withReaction(cm, message.id, me(), emoji, op, null));
}

/** Move my read position (the chat is open, visible and scrolled to the bottom). */
export async function markRead(chatId: string, upToSeq: number): Promise<void> {
  applyOwnRead(chatId, upToSeq, me());
  let state = await overSocket((rt) => rt.request('chat:read', { chatId, upToSeq })).catch(() => null);
  if (!state) {
    const res = await api.messages.markRead({ params: { chatId }, body: { upToSeq } }).catch(() => null);
    if (res?.status !== 200) return;
    state = res.body;
  }
  const { lastReadSeq, unreadCount } = state;
  useChatsStore
    .getState()
    .update(chatId, (c) => (lastReadSeq >= c.lastReadSeq ? { ...c, lastReadSeq, unreadCount } : c));
}

/** typing:start / typing:stop, over the socket only: a late typing state is worse than none. */
export function sendTyping(chatId: string, typing: boolean): void {
  const rt = getRealtime();
  if (!rt?.isReady) return;
  rt.request(typing ? 'typing:start' : 'typing:stop', { chatId }).catch(() => {});
}
