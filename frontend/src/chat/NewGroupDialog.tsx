import { type PublicUser, createGroupSchema } from '@parley/contracts';
import { type FormEvent, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { Field, FormMessage } from '../components/Field';
import { succeeded, useApiForm } from '../components/use-api-form';
import { useChatsStore } from '../messaging/chats-store';
import { Modal } from './Modal';
import { UserSearch } from './UserSearch';

/** Name a group, describe it, pick its first members; I become its owner. */
export function NewGroupDialog({ onClose }: { onClose: () => void }) {
  const navigate = useNavigate();
  const [members, setMembers] = useState<PublicUser[]>([]);
  const { values, notice, pending, bind, submit, fieldErrors } = useApiForm({ name: '', description: '' });

  const onSubmit = (e: FormEvent) => {
    const input = { name: values.name, description: values.description, memberIds: members.map((m) => m.id) };
    return submit(e, { schema: createGroupSchema, input }, async () => {
      const res = await api.chats.createGroup({ body: input });
      if (res.status !== 201) return res;
      useChatsStore.getState().upsert(res.body);
      onClose();
      navigate(`/chats/${res.body.id}`);
      return succeeded();
    });
  };

  return (
    <Modal title="New group" onClose={onClose} testId="new-group-dialog">
      <form onSubmit={onSubmit} noValidate data-testid="new-group-form">
        <Field id="group-name" label="Name" maxLength={100} autoFocus {...bind('name')} />
        <Field
          id="group-description"
          label="Description (optional)"
          maxLength={500}
          {...bind('description')}
        />
        <UserSearch
          label="Add members"
          excludeIds={members.map((m) => m.id)}
          onPick={(u) => setMembers((list) => [...list, u])}
        />
        {members.length > 0 && (
          <ul className="picked" data-testid="picked-members">
            {members.map((m) => (
              <li key={m.id} className="picked__chip" data-testid="picked-member" data-user-id={m.id}>
                {m.displayName}
                <button
                  type="button"
                  className="picked__remove"
                  aria-label={`Remove ${m.displayName}`}
                  onClick={() => setMembers((list) => list.filter((x) => x.id !== m.id))}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        {'memberIds' in fieldErrors && (
          <p className="field__error" role="alert">
            {(fieldErrors as Record<string, string>)['memberIds']}
          </p>
        )}
        {notice && (
          <FormMessage kind={notice.kind} testId="new-group-error">
            {notice.text}
          </FormMessage>
        )}
        <div className="modal__actions">
          <button type="button" className="button button--ghost" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            className="button button--primary"
            disabled={pending}
            data-testid="create-group-button"
          >
            {pending ? 'Creating…' : 'Create group'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
