/**
 * Chat requests. With DIRECT_CHAT_POLICY=requests, a direct chat opened with someone who
 * is not a contact waits for their answer: the requester may send up to 3 messages; the
 * other person accepts (a normal chat from then on), rejects (hidden for them; the
 * requester may not write or ask again for 24 hours) or blocks. Between contacts, and
 * with the "open" policy, direct chats are accepted at once. What a requester may do
 * meanwhile (send, edit, react, type) is decided in chat-rules.ts.
 */
import type { Chat } from '@parley/contracts';
import type { AppContext } from '../app-context.js';
import type { Prisma } from '../infra/db/generated/client.js';
import { AppError } from '../infra/errors.js';
import { inTransaction, type Emitter } from '../events/outbox.js';
import { lockChat, requireMembership } from './access.js';
import type { ChatFacts } from './chat-rules.js';
import { loadChatView } from './chat-views.js';

export const REJECTED_REQUEST_COOLDOWN_MS = 24 * 3_600_000;

/** Does a new direct chat from `userId` to `otherId` start as a request? */
export async function needsRequest(ctx: AppContext, userId: string, otherId: string): Promise<boolean> {
  if (ctx.config.directChatPolicy === 'open') return false;
  const contact = await ctx.db.prisma.contact.findUnique({
    where: { userId_contactId: { userId, contactId: otherId } },
  });
  return contact === null;
}

/**
 * The other person writing back accepts the request (inside the send transaction, after
 * chat-rules.ts allowed the send). Returns true when it did.
 */
export async function acceptRequestOnReply(
  tx: Prisma.TransactionClient,
  chatId: string,
  facts: ChatFacts,
  senderId: string,
): Promise<boolean> {
  if (facts.kind !== 'direct' || !facts.requestState || facts.requestedBy === senderId) return false;
  await tx.chat.update({ where: { id: chatId }, data: { requestState: null, rejectedAt: null } });
  return true;
}

/** Opening a direct chat again after a rejection: refused during the cooldown, else a new request. */
export async function reopenRequest(
  ctx: AppContext,
  chat: { id: string; requestState: string | null; requestedBy: string | null; rejectedAt: Date | null },
  userId: string,
): Promise<void> {
  if (chat.requestState !== 'rejected' || chat.requestedBy !== userId) return;
  if (chat.rejectedAt && ctx.now().getTime() - chat.rejectedAt.getTime() < REJECTED_REQUEST_COOLDOWN_MS) {
    throw new AppError('CHAT_REQUEST_DECLINED');
  }
  await inTransaction(ctx, async (tx, emit) => {
    await tx.chat.update({ where: { id: chat.id }, data: { requestState: 'pending', rejectedAt: null } });
    await tx.chatMember.updateMany({
      where: { chatId: chat.id, userId: { not: userId } },
      data: { hidden: false },
    });
    emit.chatUpdated(chat.id);
  });
}

export async function acceptChatRequest(ctx: AppContext, userId: string, chatId: string): Promise<Chat> {
  await ctx.pipeline.exclusive(() =>
    inTransaction(ctx, async (tx, emit) => {
      await lockChat(tx, chatId);
      const { chat } = await requireMembership(tx, chatId, userId);
      if (!chat.requestState) return;
      if (chat.requestedBy === userId)
        throw new AppError('FORBIDDEN', 'The other person answers your request.');
      await tx.chat.update({ where: { id: chatId }, data: { requestState: null, rejectedAt: null } });
      await tx.chatMember.update({ where: { chatId_userId: { chatId, userId } }, data: { hidden: false } });
      emit.chatUpdated(chatId);
    }),
  );
  return loadChatView(ctx, userId, chatId);
}

export async function rejectChatRequest(ctx: AppContext, userId: string, chatId: string): Promise<void> {
  await ctx.pipeline.exclusive(() =>
    inTransaction(ctx, async (tx, emit) => {
      await lockChat(tx, chatId);
      const { chat } = await requireMembership(tx, chatId, userId);
      if (chat.requestState !== 'pending' || chat.requestedBy === userId) {
        throw new AppError('FORBIDDEN', 'There is no request from the other person to reject.');
      }
      await tx.chat.update({
        where: { id: chatId },
        data: { requestState: 'rejected', rejectedAt: ctx.now() },
      });
      await tx.chatMember.update({ where: { chatId_userId: { chatId, userId } }, data: { hidden: true } });
      emit.toUsers([userId], { type: 'chat:deleted', data: { chatId } });
      emit.chatUpdated(chatId);
    }),
  );
}

/** New contacts (inside their transaction): their pending or rejected direct chat becomes a normal one. */
export async function acceptRequestsBetween(
  tx: Prisma.TransactionClient,
  emit: Emitter,
  a: string,
  b: string,
): Promise<void> {
  const directKey = [a, b].sort().join(':');
  const chat = await tx.chat.findUnique({ where: { directKey }, select: { id: true, requestState: true } });
  if (!chat?.requestState) return;
  await tx.chat.update({ where: { id: chat.id }, data: { requestState: null, rejectedAt: null } });
  await tx.chatMember.updateMany({ where: { chatId: chat.id }, data: { hidden: false } });
  emit.chatUpdated(chat.id);
}
