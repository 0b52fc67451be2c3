/**
 * Sending a message, the same over WebSocket and REST. The message is committed with the
 * chat's next seq before anyone hears of it; a retry with the same clientMsgId returns
 * the original instead of a second copy.
 *
 * The common case goes through the send pipeline (send-pipeline.ts): checked against the
 * node's chat directory here, then group-committed with other sends (whose statement
 * checks membership and blocks). Direct chats with a chat request take
 * `sendInTransaction`, where every rule of chats/chat-rules.ts runs.
 */
import type { SendMessageInput } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { requireMembership } from '../chats/access.js';
import { acceptRequestOnReply } from '../chats/chat-requests.js';
import { assertMayWrite } from '../chats/chat-rules.js';
import { isUniqueViolation } from '../infra/db/transient.js';
import { AppError } from '../infra/errors.js';
import { attachUploads } from '../media/attach-uploads.js';
import { inTransaction } from '../events/outbox.js';
import { appendMessage } from './append-message.js';
import { mentionedUsernames, resolveMentions } from './mentions.js';
import { messageInclude, presentMessage } from './presenters.js';
import type { SendRequest, SendResult } from './send-pipeline.js';

export type { SendResult } from './send-pipeline.js';

export async function sendMessage(
  ctx: AppContext,
  senderId: string,
  chatId: string,
  input: SendMessageInput,
): Promise<SendResult> {
  // From here to the ack, background work (media analysis) steps aside.
  const done = ctx.foreground.begin();
  try {
    return await send(ctx, senderId, chatId, input);
  } finally {
    done();
  }
}

async function send(
  ctx: AppContext,
  senderId: string,
  chatId: string,
  input: SendMessageInput,
): Promise<SendResult> {
  const allowance = await ctx.sendLimiter.take(senderId);
  if (!allowance.ok) {
    // A retry of something already stored is answered, not limited.
    const earlier = await findEarlier(ctx, { senderId, chatId, input, mentions: [] }).catch(() => null);
    if (earlier) return earlier;
    throw new AppError(
      'RATE_LIMITED',
      'You are sending messages too fast. Wait a moment.',
      { retryAfterMs: allowance.retryAfterMs },
      { 'retry-after': String(Math.ceil(allowance.retryAfterMs / 1000)) },
    );
  }
  let chat = await ctx.directory.chat(chatId);
  if (!chat?.members.has(senderId)) {
    // Maybe just added on another node: the directory may be a moment behind, the database is not.
    ctx.directory.invalidate({ chatIds: [chatId] });
    chat = await ctx.directory.chat(chatId);
    if (!chat?.members.has(senderId)) throw new AppError('NOT_FOUND');
  }
  const mentions = await mentionedMembers(ctx, [...chat.members.keys()], input.body);
  const request = { senderId, chatId, input, mentions };
  const result =
    input.attachments.length === 0 ? await ctx.pipeline.send(request) : await sendWithAttachments();
  if (!result.duplicate) ctx.metrics.messagesSent.inc({ chat_kind: chat.kind });
  return result;

  async function sendWithAttachments(): Promise<SendResult> {
    // With attachments: its own transaction (the uploads are taken in it), in the lane.
    const earlier = await findEarlier(ctx, request).catch((err: unknown) =>
      err instanceof AppError && err.code === 'NOT_FOUND' ? null : Promise.reject(err),
    );
    if (earlier) return earlier;
    return ctx.pipeline.exclusive(() =>
      sendInTransaction(ctx, request).catch(async (err: unknown) => {
        // Two tries of one send raced: the other one stored it.
        if (isUniqueViolation(err)) return findEarlier(ctx, request);
        throw err;
      }),
    );
  }
}

/** Ids of the members named with @username (sorted, as the database lists them). */
async function mentionedMembers(ctx: AppContext, memberIds: string[], body: string): Promise<string[]> {
  const names = new Set(mentionedUsernames(body));
  if (names.size === 0) return [];
  const profiles = await ctx.directory.profiles(memberIds);
  return memberIds.filter((id) => names.has(profiles.get(id)?.username ?? '')).sort();
}

/**
 * One send in its own transaction, for direct chats with a chat request: the requester may
 * send a few messages until the other person answers, and the other person writing back
 * accepts. Runs in the pipeline's lane, so its seq and events stay in order.
 */
export async function sendInTransaction(ctx: AppContext, request: SendRequest): Promise<SendResult> {
  const { senderId, chatId, input } = request;
  const now = ctx.now();
  const row = await inTransaction(ctx, async (tx, emit) => {
    // Membership, blocks, the rejection hold and the request's message limit (chat-rules.ts).
    const facts = await assertMayWrite(tx, { userId: senderId, chatId, action: 'send' });
    const accepted = await acceptRequestOnReply(tx, chatId, facts, senderId);
    if (input.replyTo) {
      const target = await tx.message.findFirst({
        where: { id: input.replyTo, chatId },
        select: { id: true },
      });
      if (!target) {
        throw new AppError('VALIDATION_ERROR', 'You can only reply to a message of the same chat.', [
          { path: 'replyTo', message: 'No such message in this chat.', location: 'body' },
        ]);
      }
    }
    let row = await appendMessage(tx, chatId, now, {
      kind: 'text',
      senderId,
      clientMsgId: input.clientMsgId,
      body: input.body,
      priority: input.priority,
      mentions: await resolveMentions(tx, chatId, input.body),
      ...(input.replyTo ? { replyToId: input.replyTo } : {}),
    });
    if (input.attachments.length) {
      await attachUploads(tx, { senderId, chatId, messageId: row.id, uploadIds: input.attachments, now });
      row = await tx.message.findUniqueOrThrow({ where: { id: row.id }, include: messageInclude });
    }
    // A direct chat someone had deleted for themselves comes back with the new message.
    const hidden = await tx.chatMember.findMany({
      where: { chatId, hidden: true },
      select: { userId: true },
    });
    if (hidden.length)
      await tx.chatMember.updateMany({ where: { chatId, hidden: true }, data: { hidden: false } });
    // Sending means you have read the chat up to your own message.
    await tx.chatMember.update({
      where: { chatId_userId: { chatId, userId: senderId } },
      data: { lastReadSeq: row.seq },
    });
    if (accepted) emit.chatUpdated(chatId);
    emit.chatCreated(
      chatId,
      hidden.map((h) => h.userId),
    );
    emit.newMessages(chatId, [row.id]);
    return row;
  });
  void ctx.typing.stopAll(senderId, chatId).catch(() => undefined);
  return { message: await presentMessage(ctx.db.prisma, row), duplicate: false };
}

/** The stored message for a retried clientMsgId (a member's retry only; others get 404). */
export async function findEarlier(ctx: AppContext, request: SendRequest): Promise<SendResult> {
  const { senderId, chatId, input } = request;
  const row = await ctx.db.prisma.message.findUnique({
    where: { senderId_clientMsgId: { senderId, clientMsgId: input.clientMsgId } },
    include: messageInclude,
  });
  if (!row) throw new AppError('NOT_FOUND');
  if (row.chatId !== chatId) throw new AppError('CLIENT_MSG_ID_REUSED');
  // A retry reads the message as it is now: only a member may (someone removed gets 404).
  await requireMembership(ctx.db.prisma, chatId, senderId);
  return { message: await presentMessage(ctx.db.prisma, row), duplicate: true };
}
