/**
 * The message list renders a new message's row and no other: each row is memoised on its
 * message and a few flags, and the list hands every row the same props as before (the chat
 * as a row needs it, the same callbacks). Counted at MessageItem, wrapped in a memo that
 * compares props as MessageItem's own memo does, so it renders exactly when MessageItem would.
 */
import { screen, waitFor } from '@testing-library/react';
import { memo } from 'react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { applyEvent } from '../messaging/apply-event';
import { BOB, CAROL, ME, chat, id, member, message, user } from '../test/chat-fixtures';
import { fakeServer } from '../test/fake-server';
import { renderAt } from '../test/render-app';
import { testUser } from '../test/stub-network';

const renders = vi.hoisted(() => new Map<string, number>());

vi.mock('./MessageItem', async (importOriginal) => {
  const real = await importOriginal<typeof import('./MessageItem')>();
  const Counted = memo(function Counted(props: Parameters<typeof real.MessageItem>[0]) {
    renders.set(props.message.id, (renders.get(props.message.id) ?? 0) + 1);
    return <real.MessageItem {...props} />;
  });
  return { ...real, MessageItem: Counted };
});

const G = id('rows group');
const backlog = Array.from({ length: 30 }, (_, i) =>
  message(G, i + 1, i % 3 === 0 ? ME : i % 3 === 1 ? BOB : CAROL, `row ${i + 1}`),
);

beforeEach(() => {
  renders.clear();
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  fakeServer({
    chats: [chat(G, { name: 'Rows', lastSeq: 30, lastReadSeq: 30 })],
    pages: { [G]: backlog },
    members: { [G]: [member(ME, 'owner', 30), member(BOB, 'member', 30), member(CAROL, 'member', 30)] },
    users: [user(BOB), user(CAROL)],
  });
});

describe('rows of the message list', () => {
  it('a new message renders its own row only, not the rows already there', async () => {
    renderAt(`/chats/${G}`);
    await screen.findByText('row 30');
    // Settled: the members, the read mark and the first layout have come and gone.
    await new Promise((r) => setTimeout(r, 300));
    const before = new Map(renders);
    expect(before.size).toBe(30);

    for (const [seq, sender] of [
      [31, BOB],
      [32, CAROL],
      [33, BOB],
    ] as const) {
      applyEvent({ type: 'message:new', data: { message: message(G, seq, sender, `row ${seq}`) } }, ME);
      await screen.findByText(`row ${seq}`);
    }
    await waitFor(() => expect(renders.size).toBe(33));
    for (const m of backlog) expect(renders.get(m.id), `renders of ${m.body}`).toBe(before.get(m.id));
    for (const seq of [31, 32, 33]) expect(renders.get(id(`${G}#${seq}`))).toBeGreaterThanOrEqual(1);
  });
});
