/**
 * The only place a message row is created: inside the caller's transaction it takes the
 * chat's next seq (the UPDATE holds the chat row's lock until commit, so seqs are
 * gap-free and in commit order) and inserts the message.
 */
import { randomUUID } from 'node:crypto';
import type { SystemEvent } from '@parley/contracts';
import type { Prisma } from '../infra/db/generated/client.js';
import { messageInclude, type MessageRow } from './presenters.js';

export interface NewMessage {
  kind: 'text' | 'system';
  senderId?: string;
  clientMsgId?: string;
  body?: string;
  system?: SystemEvent;
  replyToId?: string;
  priority?: 'normal' | 'high' | 'urgent';
  mentions?: string[];
}

export async function appendMessage(
  tx: Prisma.TransactionClient,
  chatId: string,
  now: Date,
  message: NewMessage,
): Promise<MessageRow> {
  const [chat] = await tx.$queryRaw<{ last_seq: number; message_ttl_seconds: number | null }[]>`
    UPDATE chats SET last_seq = last_seq + 1, last_activity_at = ${now}
    WHERE id = ${chatId}::uuid
    RETURNING last_seq, message_ttl_seconds`;
  if (!chat) throw new Error(`chat ${chatId} vanished inside its own transaction`);
  const id = randomUUID();
  // Search indexes a text in the background (search/search-index.ts).
  if (message.kind === 'text') await tx.messageSearchQueue.create({ data: { messageId: id } });
  return tx.message.create({
    data: {
      id,
      chatId,
      seq: chat.last_seq,
      kind: message.kind,
      senderId: message.senderId ?? null,
      clientMsgId: message.clientMsgId ?? null,
      body: message.body ?? '',
      ...(message.system ? { system: message.system as unknown as Prisma.InputJsonValue } : {}),
      replyToId: message.replyToId ?? null,
      priority: message.priority ?? 'normal',
      // Disappearing messages: what people write expires; system lines stay.
      expiresAt:
        message.kind === 'text' && chat.message_ttl_seconds
          ? new Date(now.getTime() + chat.message_ttl_seconds * 1000)
          : null,
      ...(message.mentions?.length
        ? { mentions: { create: message.mentions.map((userId) => ({ userId })) } }
        : {}),
      createdAt: now,
    },
    include: messageInclude,
  });
}

/** A system line ("Ana added Ben") with the names as they are now. */
export async function appendSystemMessage(
  tx: Prisma.TransactionClient,
  chatId: string,
  now: Date,
  event: Omit<SystemEvent, 'names'>,
): Promise<MessageRow> {
  const ids = [...new Set([...(event.actorId ? [event.actorId] : []), ...event.userIds])];
  const users = await tx.user.findMany({
    where: { id: { in: ids } },
    select: { id: true, displayName: true },
  });
  const names = Object.fromEntries(users.map((u) => [u.id, u.displayName]));
  return appendMessage(tx, chatId, now, { kind: 'system', system: { ...event, names } });
}
