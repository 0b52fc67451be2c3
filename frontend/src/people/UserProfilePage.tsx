/**
 * /users/:id: someone's public profile (name, @username, status, availability), their
 * presence when I may see it (a contact or someone I share a chat with; never when one of
 * us blocked the other), and what I can do: message them, ask them to be a contact, block.
 */
import type { PublicUser } from '@parley/contracts';
import { format, parseISO } from 'date-fns';
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { networkProblem, toProblem } from '../api/errors';
import { useAuthStore } from '../auth/auth-store';
import { Avatar } from '../chat/Avatar';
import { lastSeen } from '../chat/format';
import { AvailabilityDot, availabilityLabels } from '../components/AvailabilityDot';
import { FormMessage } from '../components/Field';
import { errorText } from '../messaging/actions';
import { openDirectChat } from '../messaging/chat-actions';
import { usePresenceStore } from '../messaging/presence-store';
import { relationTo, useContactsStore } from './contacts-store';
import {
  acceptContactRequest,
  blockUser,
  confirmBlock,
  dismissContactRequest,
  requestContact,
  unblockUser,
} from './people-actions';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function UserProfilePage() {
  const { userId = '' } = useParams();
  const [user, setUser] = useState<PublicUser | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    if (!UUID.test(userId)) {
      setProblem('There is no such person.');
      return;
    }
    let cancelled = false;
    setUser(null);
    setProblem(null);
    api.users
      .getUser({ params: { id: userId } })
      .then((res) => {
        if (cancelled) return;
        if (res.status === 200) setUser(res.body);
        else if (res.status === 404) setProblem('There is no such person.');
        else setProblem(toProblem(res.status, res.body).message);
      })
      .catch(() => {
        if (!cancelled) setProblem(networkProblem().message);
      });
    return () => {
      cancelled = true;
    };
  }, [userId]);

  if (problem) {
    return (
      <div className="page" data-testid="user-not-found">
        <section className="card empty-state">
          <h2>{problem}</h2>
          <Link to="/contacts" className="button button--ghost">
            Back to contacts
          </Link>
        </section>
      </div>
    );
  }
  if (!user) {
    return (
      <div className="page" role="status">
        <span className="spinner" aria-hidden="true" />
      </div>
    );
  }
  return <Profile key={user.id} user={user} />;
}

function Profile({ user }: { user: PublicUser }) {
  const navigate = useNavigate();
  const me = useAuthStore((s) => s.user?.id);
  const self = me === user.id;
  const contacts = useContactsStore((s) => s.contacts);
  const requests = useContactsStore((s) => s.requests);
  const contact = contacts[user.id];
  const relation = useMemo(() => relationTo({ contacts, requests }, user.id), [contacts, requests, user.id]);
  const blocked = useContactsStore((s) => Boolean(s.blocked[user.id]));
  const presence = usePresenceStore((s) => s.byUser[user.id]);
  const [busy, setBusy] = useState(false);
  // A notice belongs to the relation it was about: "Request sent" goes once they accept.
  const [notice, setNotice] = useState<{ kind: 'success' | 'error'; text: string; about: string } | null>(
    null,
  );

  // Presence only from where the server shares it: contacts and shared chats; none if blocked.
  const seen =
    blocked || self
      ? null
      : (presence ?? (contact ? { online: contact.online, lastSeenAt: contact.lastSeenAt } : null));

  async function run(action: () => Promise<string | void>) {
    setBusy(true);
    setNotice(null);
    try {
      const text = await action();
      const about = relationTo(useContactsStore.getState(), user.id).kind;
      if (text) setNotice({ kind: 'success', text, about });
    } catch (err) {
      setNotice({ kind: 'error', text: errorText(err), about: relation.kind });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="page" data-testid="user-profile" data-user-id={user.id}>
      <section className="card profile-card">
        <div className="profile-card__head">
          <Avatar name={user.displayName} presenceUserId={seen ? user.id : null} />
          <div className="profile-card__names">
            <h1 data-testid="user-profile-name">{user.displayName}</h1>
            <p className="muted">
              <span data-testid="user-profile-username">@{user.username}</span>
              {seen && (
                <span data-testid="user-profile-presence" data-online={seen.online}>
                  {' · '}
                  {seen.online ? 'online' : lastSeen(seen.lastSeenAt)}
                </span>
              )}
            </p>
          </div>
        </div>
        <dl className="summary">
          <dt>Status</dt>
          <dd data-testid="user-profile-status">
            {user.statusText || <span className="muted">No status set</span>}
          </dd>
          <dt>Availability</dt>
          <dd>
            <AvailabilityDot availability={user.availability} /> {availabilityLabels[user.availability]}
          </dd>
          <dt>Member since</dt>
          <dd>{format(parseISO(user.createdAt), 'PP')}</dd>
        </dl>

        {self ? (
          <div className="profile-card__actions">
            <Link to="/settings/profile" className="button button--ghost">
              Edit your profile
            </Link>
          </div>
        ) : (
          <div className="profile-card__actions">
            {!blocked && (
              <button
                type="button"
                className="button button--primary"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    const chat = await openDirectChat(user.id);
                    navigate(`/chats/${chat.id}`);
                  })
                }
                data-testid="profile-message-button"
              >
                Message
              </button>
            )}
            {!blocked && relation.kind === 'contact' && (
              <span className="badge" data-testid="profile-contact-status">
                Contact ✓
              </span>
            )}
            {!blocked && relation.kind === 'none' && (
              <button
                type="button"
                className="button button--ghost"
                disabled={busy}
                onClick={() =>
                  void run(async () =>
                    (await requestContact(user.id)) === 'added'
                      ? `${user.displayName} is now a contact.`
                      : 'Contact request sent.',
                  )
                }
                data-testid="profile-add-contact-button"
              >
                Add contact
              </button>
            )}
            {!blocked && relation.kind === 'outgoing' && (
              <button
                type="button"
                className="button button--ghost"
                disabled={busy}
                title="Cancel the request"
                onClick={() => void run(() => dismissContactRequest(relation.requestId))}
                data-testid="profile-request-sent"
              >
                Request sent · Cancel
              </button>
            )}
            {!blocked && relation.kind === 'incoming' && (
              <button
                type="button"
                className="button button--ghost"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    await acceptContactRequest(relation.requestId);
                    return `${user.displayName} is now a contact.`;
                  })
                }
                data-testid="profile-accept-contact-button"
              >
                Accept contact request
              </button>
            )}
            {blocked ? (
              <button
                type="button"
                className="button button--ghost"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    await unblockUser(user);
                    return `Unblocked ${user.displayName}.`;
                  })
                }
                data-testid="profile-unblock-button"
              >
                Unblock
              </button>
            ) : (
              <button
                type="button"
                className="button button--danger"
                disabled={busy}
                onClick={() =>
                  void (async () => {
                    if (!(await confirmBlock(user))) return;
                    await run(async () => {
                      await blockUser(user);
                      return `Blocked ${user.displayName}. Neither of you can message the other.`;
                    });
                  })()
                }
                data-testid="profile-block-button"
              >
                Block
              </button>
            )}
          </div>
        )}
        {blocked && (
          <p className="muted" data-testid="profile-blocked-note">
            You blocked {user.displayName}: no direct messages, contact requests or presence between you.
          </p>
        )}
        {notice && notice.about === relation.kind && (
          <FormMessage kind={notice.kind} testId={`user-profile-${notice.kind}`}>
            {notice.text}
          </FormMessage>
        )}
      </section>
    </div>
  );
}
