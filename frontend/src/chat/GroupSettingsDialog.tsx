/**
 * A group's settings: name and description (admins), members with roles and presence,
 * adding and removing people (admins; only the owner removes admins), roles and ownership
 * (owner), leaving, and deleting the group (owner).
 */
import {
  type Chat,
  type ChatMember,
  type MemberRole,
  type PublicUser,
  updateChatSchema,
} from '@parley/contracts';
import { type FormEvent, useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { networkProblem, toProblem } from '../api/errors';
import { Field, FormMessage } from '../components/Field';
import { succeeded, useApiForm } from '../components/use-api-form';
import { forgetChat } from '../messaging/apply-event';
import { useChatsStore } from '../messaging/chats-store';
import { useMembersStore } from '../messaging/members-store';
import { loadMembers, refreshChat } from '../messaging/sync';
import { Modal } from './Modal';
import { PresenceDot } from './PresenceDot';
import { UserSearch } from './UserSearch';
import { confirm } from './confirm';

const roleOrder: Record<MemberRole, number> = { owner: 0, admin: 1, member: 2 };
const roleLabel: Record<MemberRole, string> = { owner: 'Owner', admin: 'Admin', member: 'Member' };

type Reply = { status: number; body: unknown };

export function GroupSettingsDialog({ chat, me, onClose }: { chat: Chat; me: string; onClose: () => void }) {
  const navigate = useNavigate();
  const membersMap = useMembersStore((s) => s.byChat[chat.id]);
  const members = useMemo(
    () =>
      Object.values(membersMap ?? {}).sort(
        (a, b) =>
          roleOrder[a.role] - roleOrder[b.role] || a.user.displayName.localeCompare(b.user.displayName),
      ),
    [membersMap],
  );
  const isOwner = chat.myRole === 'owner';
  const isAdmin = isOwner || chat.myRole === 'admin';
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [toAdd, setToAdd] = useState<PublicUser[]>([]);
  const [confirmDelete, setConfirmDelete] = useState(false);

  /** Run a member or group action; `ok` decides what a success is, then refetch what changed. */
  async function act(request: () => Promise<Reply>, ok: number[], after?: () => Promise<unknown> | void) {
    setBusy(true);
    setError(null);
    try {
      const res = await request();
      if (!ok.includes(res.status)) {
        setError(toProblem(res.status, res.body).message);
        return false;
      }
      await after?.();
      return true;
    } catch {
      setError(networkProblem().message);
      return false;
    } finally {
      setBusy(false);
    }
  }

  const refetch = () => Promise.all([loadMembers(chat.id), refreshChat(chat.id)]);

  const setRole = (m: ChatMember, role: 'admin' | 'member') =>
    act(
      () => api.chats.setRole({ params: { chatId: chat.id, userId: m.user.id }, body: { role } }),
      [200],
      refetch,
    );
  const removeMember = async (m: ChatMember) => {
    const ok = await confirm({
      title: `Remove ${m.user.displayName}?`,
      description: `${m.user.displayName} leaves ${chat.name} and no longer sees its messages. You can add them again later.`,
      confirmLabel: 'Remove',
    });
    if (ok)
      await act(
        () => api.chats.removeMember({ params: { chatId: chat.id, userId: m.user.id } }),
        [204],
        refetch,
      );
  };
  const transfer = (m: ChatMember) =>
    act(
      () => api.chats.transferOwnership({ params: { chatId: chat.id }, body: { userId: m.user.id } }),
      [204],
      refetch,
    );
  const addMembers = () =>
    act(
      () => api.chats.addMembers({ params: { chatId: chat.id }, body: { userIds: toAdd.map((u) => u.id) } }),
      [200],
      () => {
        setToAdd([]);
        return refetch();
      },
    );
  const leave = async () => {
    const ok = await confirm({
      title: `Leave ${chat.name}?`,
      description: 'You will no longer see its messages. Someone in the group can add you back.',
      confirmLabel: 'Leave',
    });
    if (!ok) return;
    await act(
      () => api.chats.leave({ params: { chatId: chat.id } }),
      [204],
      () => {
        forgetChat(chat.id);
        navigate('/');
      },
    );
  };
  const deleteGroup = () =>
    act(
      () => api.chats.remove({ params: { chatId: chat.id } }),
      [204],
      () => {
        forgetChat(chat.id);
        navigate('/');
      },
    );

  return (
    <Modal title="Group settings" onClose={onClose} testId="group-settings">
      {isAdmin ? <GroupInfoForm chat={chat} /> : <GroupInfo chat={chat} />}

      <section className="settings-section" aria-labelledby="members-title">
        <h3 id="members-title">
          Members <span className="muted">({chat.memberCount})</span>
        </h3>
        <ul className="member-list" data-testid="member-list">
          {members.map((m) => {
            const self = m.user.id === me;
            const canRemove = !self && m.role !== 'owner' && (isOwner || (isAdmin && m.role === 'member'));
            return (
              <li
                key={m.user.id}
                className="member-row"
                data-testid="group-member"
                data-user-id={m.user.id}
                data-role={m.role}
              >
                <PresenceDot userId={m.user.id} />
                <span className="member-row__name">
                  <Link to={`/users/${m.user.id}`} onClick={onClose} data-testid="member-profile-link">
                    {m.user.displayName}
                  </Link>
                  {self && <span className="muted"> (you)</span>}
                  <span className="muted member-row__username">@{m.user.username}</span>
                </span>
                <span className={`role-badge role-badge--${m.role}`} data-testid="member-role">
                  {roleLabel[m.role]}
                </span>
                <span className="member-row__actions">
                  {isOwner && !self && m.role === 'member' && (
                    <button
                      type="button"
                      className="link-button"
                      disabled={busy}
                      onClick={() => void setRole(m, 'admin')}
                      data-testid="make-admin-button"
                    >
                      Make admin
                    </button>
                  )}
                  {isOwner && !self && m.role === 'admin' && (
                    <button
                      type="button"
                      className="link-button"
                      disabled={busy}
                      onClick={() => void setRole(m, 'member')}
                      data-testid="make-member-button"
                    >
                      Make member
                    </button>
                  )}
                  {isOwner && !self && (
                    <button
                      type="button"
                      className="link-button"
                      disabled={busy}
                      onClick={() => void transfer(m)}
                      data-testid="transfer-owner-button"
                    >
                      Make owner
                    </button>
                  )}
                  {canRemove && (
                    <button
                      type="button"
                      className="link-button link-button--danger"
                      disabled={busy}
                      onClick={() => void removeMember(m)}
                      data-testid="remove-member-button"
                    >
                      Remove
                    </button>
                  )}
                </span>
              </li>
            );
          })}
        </ul>
      </section>

      {isAdmin && (
        <section className="settings-section" aria-labelledby="add-title">
          <h3 id="add-title">Add people</h3>
          <UserSearch
            label="Search people to add"
            excludeIds={[...members.map((m) => m.user.id), ...toAdd.map((u) => u.id)]}
            onPick={(u) => setToAdd((list) => [...list, u])}
          />
          {toAdd.length > 0 && (
            <>
              <ul className="picked">
                {toAdd.map((u) => (
                  <li key={u.id} className="picked__chip" data-testid="picked-member" data-user-id={u.id}>
                    {u.displayName}
                    <button
                      type="button"
                      className="picked__remove"
                      aria-label={`Remove ${u.displayName}`}
                      onClick={() => setToAdd((list) => list.filter((x) => x.id !== u.id))}
                    >
                      ×
                    </button>
                  </li>
                ))}
              </ul>
              <button
                type="button"
                className="button button--primary button--small"
                disabled={busy}
                onClick={() => void addMembers()}
                data-testid="add-members-button"
              >
                Add {toAdd.length === 1 ? '1 person' : `${toAdd.length} people`}
              </button>
            </>
          )}
        </section>
      )}

      {error && (
        <FormMessage kind="error" testId="group-settings-error">
          {error}
        </FormMessage>
      )}

      <section className="settings-section settings-section--danger">
        <button
          type="button"
          className="button button--danger"
          disabled={busy}
          onClick={() => void leave()}
          data-testid="leave-group-button"
        >
          Leave group
        </button>
        {isOwner &&
          (confirmDelete ? (
            <span className="confirm">
              <span>Delete the group and its messages for everyone?</span>
              <button
                type="button"
                className="button button--danger"
                disabled={busy}
                onClick={() => void deleteGroup()}
                data-testid="confirm-delete-group-button"
              >
                Delete
              </button>
              <button type="button" className="button button--ghost" onClick={() => setConfirmDelete(false)}>
                Cancel
              </button>
            </span>
          ) : (
            <button
              type="button"
              className="button button--danger"
              onClick={() => setConfirmDelete(true)}
              data-testid="delete-group-button"
            >
              Delete group
            </button>
          ))}
      </section>
    </Modal>
  );
}

function GroupInfo({ chat }: { chat: Chat }) {
  return (
    <section className="settings-section">
      <dl className="summary">
        <dt>Name</dt>
        <dd data-testid="group-name">{chat.name}</dd>
        <dt>Description</dt>
        <dd>{chat.description || <span className="muted">No description</span>}</dd>
      </dl>
    </section>
  );
}

function GroupInfoForm({ chat }: { chat: Chat }) {
  const { values, notice, pending, bind, submit } = useApiForm({
    name: chat.name,
    description: chat.description,
  });
  const onSubmit = (e: FormEvent) =>
    submit(e, { schema: updateChatSchema, input: values }, async () => {
      const res = await api.chats.update({ params: { chatId: chat.id }, body: values });
      if (res.status !== 200) return res;
      useChatsStore.getState().upsert(res.body);
      return succeeded('Saved.');
    });
  return (
    <section className="settings-section">
      <form onSubmit={onSubmit} noValidate data-testid="group-info-form">
        <Field id="settings-group-name" label="Name" maxLength={100} {...bind('name')} />
        <Field id="settings-group-description" label="Description" maxLength={500} {...bind('description')} />
        {notice && (
          <FormMessage kind={notice.kind} testId="group-info-notice">
            {notice.text}
          </FormMessage>
        )}
        <button
          type="submit"
          className="button button--primary button--small"
          disabled={pending}
          data-testid="save-group-button"
        >
          {pending ? 'Saving…' : 'Save'}
        </button>
      </form>
    </section>
  );
}
