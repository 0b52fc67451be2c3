/**
 * REST answers about a chat may be older than what the client learnt since (its own read,
 * live messages): they must not move the read position, the unread count or the last seq back.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { at, chat } from '../test/chat-fixtures';
import { useChatsStore, withInfo } from './chats-store';

beforeEach(() => useChatsStore.getState().clear());

describe('a chat fetched again (upsert, setAll)', () => {
  it('an answer from before my latest read leaves my read position and unread count as they are', () => {
    const store = useChatsStore.getState();
    // Read up to 5 here (the server acked it); a GET that left the server before has 4 and 1 unread.
    store.upsert(chat('c1', { lastSeq: 5, lastReadSeq: 5, unreadCount: 0, version: 3 }));
    store.upsert(chat('c1', { lastSeq: 5, lastReadSeq: 4, unreadCount: 1, version: 3, name: 'Renamed' }));
    const c = useChatsStore.getState().chats.c1!;
    expect(c).toMatchObject({ lastReadSeq: 5, unreadCount: 0, name: 'Renamed' });
    store.setAll([chat('c1', { lastSeq: 5, lastReadSeq: 4, unreadCount: 1, version: 3 })]);
    expect(useChatsStore.getState().chats.c1).toMatchObject({ lastReadSeq: 5, unreadCount: 0 });
  });

  it('a newer answer is taken as it is: a read on another device, new messages', () => {
    const store = useChatsStore.getState();
    store.upsert(chat('c1', { lastSeq: 5, lastReadSeq: 3, unreadCount: 2, version: 3 }));
    store.upsert(
      chat('c1', { lastSeq: 7, lastReadSeq: 6, unreadCount: 1, version: 4, lastActivityAt: at(9) }),
    );
    expect(useChatsStore.getState().chats.c1).toMatchObject({
      lastSeq: 7,
      lastReadSeq: 6,
      unreadCount: 1,
      version: 4,
      lastActivityAt: at(9),
    });
  });

  it('an answer from before messages that came live keeps the last seq and the newest message', () => {
    const store = useChatsStore.getState();
    const newest = {
      id: 'm7',
      seq: 7,
      kind: 'text',
      senderId: 'u',
      senderName: 'U',
      text: 'hi',
      deleted: false,
      createdAt: at(7),
    } as const;
    store.upsert(chat('c1', { lastSeq: 7, lastMessage: newest, lastActivityAt: at(7), version: 5 }));
    store.upsert(chat('c1', { lastSeq: 6, lastMessage: null, lastActivityAt: at(6), version: 4 }));
    expect(useChatsStore.getState().chats.c1).toMatchObject({
      lastSeq: 7,
      lastMessage: newest,
      lastActivityAt: at(7),
      version: 5,
    });
  });
});

describe('what every member sees alike (withInfo)', () => {
  it('given a whole chat from before my latest read, leaves my read position, unread count and role', () => {
    const known = chat('c1', { lastSeq: 1, lastReadSeq: 1, unreadCount: 0, myRole: 'member' });
    const answer = chat('c1', {
      lastSeq: 1,
      lastReadSeq: 0,
      unreadCount: 1,
      myRole: 'owner',
      name: 'Accepted',
    });
    expect(withInfo(known, answer)).toMatchObject({
      lastReadSeq: 1,
      unreadCount: 0,
      myRole: 'member',
      name: 'Accepted',
    });
  });
});
