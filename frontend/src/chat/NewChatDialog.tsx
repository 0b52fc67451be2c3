import type { PublicUser } from '@parley/contracts';
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { networkProblem, toProblem } from '../api/errors';
import { FormMessage } from '../components/Field';
import { useChatsStore } from '../messaging/chats-store';
import { Modal } from './Modal';
import { UserSearch } from './UserSearch';

/** Open (or create) the direct chat with someone found by search. */
export function NewChatDialog({ onClose }: { onClose: () => void }) {
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function open(user: PublicUser) {
    setPending(true);
    setError(null);
    try {
      const res = await api.chats.createDirect({ body: { userId: user.id } });
      if (res.status === 200 || res.status === 201) {
        useChatsStore.getState().upsert(res.body);
        onClose();
        navigate(`/chats/${res.body.id}`);
        return;
      }
      const reply: { status: number; body: unknown } = res;
      setError(toProblem(reply.status, reply.body).message);
    } catch {
      setError(networkProblem().message);
    } finally {
      setPending(false);
    }
  }

  return (
    <Modal title="New chat" onClose={onClose} testId="new-chat-dialog">
      <UserSearch onPick={(u) => void open(u)} label="Who do you want to talk to?" autoFocus />
      {pending && <p className="muted">Opening…</p>}
      {error && (
        <FormMessage kind="error" testId="new-chat-error">
          {error}
        </FormMessage>
      )}
    </Modal>
  );
}
