/**
 * Sending a message, the same over WebSocket and REST. The message is committed with the
 * chat's next seq before anyone hears of it; a retry with the same clientMsgId returns
 * the original instead of a second copy.
 */
import type { Message, SendMessageInput } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import { publishToChat, requireMembership } from '../chats/access.js';
import { checkRequestOnSend } from '../chats/chat-requests.js';
import { chatInfoOf, loadChatView } from '../chats/chat-views.js';
import { refuseIfBlocked } from '../contacts/blocks.js';
import { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { appendMessage } from './append-message.js';
import { resolveMentions } from './mentions.js';
import { messageInclude, presentMessage } from './presenters.js';

export interface SendResult {
  message: Message;
  /** True when this clientMsgId was sent before and the original is returned. */
  duplicate: boolean;
}

export async function sendMessage(
  ctx: AppContext,
  senderId: string,
  chatId: string,
  input: SendMessageInput,
): Promise<SendResult> {
  const earlier = await findEarlier(ctx, senderId, chatId, input.clientMsgId);
  if (earlier) return earlier;

  const allowance = await ctx.sendLimiter.take(senderId);
  if (!allowance.ok) {
    throw new AppError(
      'RATE_LIMITED',
      'You are sending messages too fast. Wait a moment.',
      { retryAfterMs: allowance.retryAfterMs },
      { 'retry-after': String(Math.ceil(allowance.retryAfterMs / 1000)) },
    );
  }

  try {
    return await ctx.chatQueue.run(chatId, async () => {
      const now = ctx.now();
      const { row, reopened, accepted } = await ctx.db.prisma.$transaction(async (tx) => {
        const { chat } = await requireMembership(tx, chatId, senderId);
        // Blocked people cannot message each other; shared groups still work.
        if (chat.kind === 'direct' && chat.directKey) {
          const peerId = chat.directKey.split(':').find((id) => id !== senderId) ?? senderId;
          await refuseIfBlocked(tx, senderId, peerId);
        }
        const accepted = chat.kind === 'direct' ? await checkRequestOnSend(tx, chat, senderId) : false;
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
        const row = await appendMessage(tx, chatId, now, {
          kind: 'text',
          senderId,
          clientMsgId: input.clientMsgId,
          body: input.body,
          priority: input.priority,
          mentions: await resolveMentions(tx, chatId, input.body),
          ...(input.replyTo ? { replyToId: input.replyTo } : {}),
        });
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
          data: { lastReadSeq: row.seq, lastDeliveredSeq: row.seq },
        });
        return { row, reopened: hidden.map((h) => h.userId), accepted };
      });
      const message = await presentMessage(ctx.db.prisma, row);
      if (accepted) {
        const view = await loadChatView(ctx, senderId, chatId);
        await publishToChat(ctx, chatId, { type: 'chat:updated', data: { chat: chatInfoOf(view) } });
      }
      for (const userId of reopened) {
        await ctx.events.toUsers([userId], {
          type: 'chat:created',
          data: { chat: await loadChatView(ctx, userId, chatId) },
        });
      }
      await publishToChat(ctx, chatId, { type: 'message:new', data: { message } });
      // The message is what they were typing.
      await ctx.typing.stopAll(senderId, chatId);
      return { message, duplicate: false };
    });
  } catch (err) {
    // The same clientMsgId sent twice at once: the unique index let one through.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      const winner = await findEarlier(ctx, senderId, chatId, input.clientMsgId);
      if (winner) return winner;
    }
    throw err;
  }
}

async function findEarlier(
  ctx: AppContext,
  senderId: string,
  chatId: string,
  clientMsgId: string,
): Promise<SendResult | null> {
  const row = await ctx.db.prisma.message.findUnique({
    where: { senderId_clientMsgId: { senderId, clientMsgId } },
    include: messageInclude,
  });
  if (!row) return null;
  if (row.chatId !== chatId) throw new AppError('CLIENT_MSG_ID_REUSED');
  // A retry reads the message as it is now: only a member may (someone removed gets 404).
  await requireMembership(ctx.db.prisma, chatId, senderId);
  return { message: await presentMessage(ctx.db.prisma, row), duplicate: true };
}
