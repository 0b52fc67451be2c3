/**
 * /contacts: my contacts with their presence, the requests I received (accept, reject) and
 * sent (cancel), and "Add contact" by search. Live through the contact:* events.
 */
import type { Contact, ContactRequest, PublicUser } from '@parley/contracts';
import { useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { lastSeen } from '../chat/format';
import { PresenceDot } from '../chat/PresenceDot';
import { UserSearch } from '../chat/UserSearch';
import { FormMessage } from '../components/Field';
import { errorText } from '../messaging/actions';
import { openDirectChat } from '../messaging/chat-actions';
import { usePresenceStore } from '../messaging/presence-store';
import { requestsByDirection, useContactsStore } from './contacts-store';
import { acceptContactRequest, dismissContactRequest, removeContact, requestContact } from './people-actions';

type Notice = { kind: 'success' | 'error'; text: string } | null;

export function ContactsPage() {
  const contacts = useContactsStore((s) => s.contacts);
  const requests = useContactsStore((s) => s.requests);
  const loaded = useContactsStore((s) => s.loaded);
  const [notice, setNotice] = useState<Notice>(null);
  // Picked in the search, not asked yet: "Add contact" sends the request.
  const [picked, setPicked] = useState<PublicUser | null>(null);
  const { incoming, outgoing } = useMemo(() => requestsByDirection(requests), [requests]);
  const sorted = useMemo(
    () => Object.values(contacts).sort((a, b) => a.user.displayName.localeCompare(b.user.displayName)),
    [contacts],
  );

  async function act(action: () => Promise<string | void>) {
    setNotice(null);
    try {
      const text = await action();
      if (text) setNotice({ kind: 'success', text });
    } catch (err) {
      setNotice({ kind: 'error', text: errorText(err) });
    }
  }

  const add = (user: PublicUser) =>
    act(async () =>
      (await requestContact(user.id)) === 'added'
        ? `${user.displayName} is now a contact.`
        : `Request sent to ${user.displayName}.`,
    );

  return (
    <div className="page contacts-page" data-testid="contacts-page">
      <h1>Contacts</h1>
      <section className="card" aria-labelledby="add-contact-title">
        <h2 id="add-contact-title">Add contact</h2>
        <UserSearch
          onPick={(u) => {
            setNotice(null);
            setPicked(u);
          }}
          excludeIds={Object.keys(contacts)}
          label="Find people by name or username"
        />
        {picked && (
          <div className="user-row contact-pick" data-testid="contact-pick" data-user-id={picked.id}>
            <PresenceDot userId={picked.id} />
            <span className="user-row__name">{picked.displayName}</span>
            <span className="muted">@{picked.username}</span>
            <span className="contact-pick__actions">
              <button
                type="button"
                className="button button--primary button--small"
                onClick={() => {
                  const user = picked;
                  setPicked(null);
                  void add(user);
                }}
                data-testid="contact-pick-add"
              >
                Add contact
              </button>
              <Link to={`/users/${picked.id}`} className="button button--ghost button--small">
                View profile
              </Link>
              <button
                type="button"
                className="button button--ghost button--small"
                onClick={() => setPicked(null)}
                data-testid="contact-pick-cancel"
              >
                Cancel
              </button>
            </span>
          </div>
        )}
        {notice && (
          <FormMessage kind={notice.kind} testId={`contacts-${notice.kind}`}>
            {notice.text}
          </FormMessage>
        )}
      </section>

      {incoming.length > 0 && (
        <section className="card" aria-labelledby="incoming-title">
          <h2 id="incoming-title">
            Requests <span className="muted">({incoming.length})</span>
          </h2>
          <ul className="people-list" data-testid="incoming-requests">
            {incoming.map((r) => (
              <RequestRow key={r.id} request={r} onAct={act} />
            ))}
          </ul>
        </section>
      )}

      {outgoing.length > 0 && (
        <section className="card" aria-labelledby="outgoing-title">
          <h2 id="outgoing-title">Sent requests</h2>
          <ul className="people-list" data-testid="outgoing-requests">
            {outgoing.map((r) => (
              <RequestRow key={r.id} request={r} onAct={act} />
            ))}
          </ul>
        </section>
      )}

      <section className="card" aria-labelledby="contacts-title">
        <h2 id="contacts-title">
          Your contacts <span className="muted">({sorted.length})</span>
        </h2>
        {!loaded && <p className="muted">Loading contacts…</p>}
        {loaded && sorted.length === 0 && (
          <p className="muted" data-testid="contacts-empty">
            No contacts yet. Find people above and send them a request.
          </p>
        )}
        {sorted.length > 0 && (
          <ul className="people-list" data-testid="contact-list">
            {sorted.map((c) => (
              <ContactRow key={c.user.id} contact={c} onAct={act} />
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function PersonName({ user }: { user: PublicUser }) {
  return (
    <span className="person__name">
      <Link to={`/users/${user.id}`} data-testid="person-link">
        {user.displayName}
      </Link>
      <span className="muted"> @{user.username}</span>
    </span>
  );
}

type Act = (action: () => Promise<string | void>) => Promise<void>;

function RequestRow({ request, onAct }: { request: ContactRequest; onAct: Act }) {
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<string | void>) => {
    setBusy(true);
    await onAct(action);
    setBusy(false);
  };
  const { user } = request;
  return (
    <li
      className="person"
      data-testid="contact-request"
      data-direction={request.direction}
      data-user-id={user.id}
    >
      <div className="person__main">
        <PersonName user={user} />
        <span className="person__meta muted">
          {request.direction === 'incoming' ? 'wants to be your contact' : 'waiting for an answer'}
        </span>
      </div>
      <div className="person__actions">
        {request.direction === 'incoming' ? (
          <>
            <button
              type="button"
              className="button button--primary button--small"
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  await acceptContactRequest(request.id);
                  return `${user.displayName} is now a contact.`;
                })
              }
              data-testid="contact-accept-button"
            >
              Accept
            </button>
            <button
              type="button"
              className="button button--ghost button--small"
              disabled={busy}
              onClick={() => void run(() => dismissContactRequest(request.id))}
              data-testid="contact-reject-button"
            >
              Reject
            </button>
          </>
        ) : (
          <button
            type="button"
            className="button button--ghost button--small"
            disabled={busy}
            onClick={() => void run(() => dismissContactRequest(request.id))}
            data-testid="contact-cancel-button"
          >
            Cancel
          </button>
        )}
      </div>
    </li>
  );
}

function ContactRow({ contact, onAct }: { contact: Contact; onAct: Act }) {
  const navigate = useNavigate();
  const presence = usePresenceStore((s) => s.byUser[contact.user.id]);
  const online = presence?.online ?? contact.online;
  const seen = presence ? presence.lastSeenAt : contact.lastSeenAt;
  const [confirming, setConfirming] = useState(false);
  const { user } = contact;
  return (
    <li className="person" data-testid="contact" data-user-id={user.id} data-online={online}>
      <PresenceDot userId={user.id} />
      <div className="person__main">
        <PersonName user={user} />
        <span className="person__meta muted" data-testid="contact-presence">
          {online ? 'online' : lastSeen(seen)}
          {user.statusText && ` · ${user.statusText}`}
        </span>
      </div>
      <div className="person__actions">
        <button
          type="button"
          className="button button--ghost button--small"
          onClick={() =>
            void onAct(async () => {
              const chat = await openDirectChat(user.id);
              navigate(`/chats/${chat.id}`);
            })
          }
          data-testid="contact-message-button"
        >
          Message
        </button>
        {confirming ? (
          <span className="confirm">
            <button
              type="button"
              className="button button--danger button--small"
              onClick={() => void onAct(() => removeContact(user.id))}
              data-testid="contact-remove-confirm"
            >
              Remove
            </button>
            <button type="button" className="link-button" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </span>
        ) : (
          <button
            type="button"
            className="link-button link-button--danger"
            onClick={() => setConfirming(true)}
            data-testid="contact-remove-button"
          >
            Remove
          </button>
        )}
      </div>
    </li>
  );
}
