/** The Contacts page, a user's profile page and the blocked list, over a fake REST server. */
import type { ContactRequest } from '@parley/contracts';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAuthStore } from '../auth/auth-store';
import { BOB, CAROL, DAVE, at, chat, id, names, user } from '../test/chat-fixtures';
import { fakeServer } from '../test/fake-server';
import { renderAt } from '../test/render-app';
import { testUser } from '../test/stub-network';

const D = id('people direct with carol');
let server: ReturnType<typeof fakeServer>;

const fromDave: ContactRequest = {
  id: id('request from dave'),
  direction: 'incoming',
  user: user(DAVE),
  createdAt: at(2),
};
const toCarol: ContactRequest = {
  id: id('request to carol'),
  direction: 'outgoing',
  user: user(CAROL),
  createdAt: at(1),
};

beforeEach(() => {
  useAuthStore.setState({ status: 'signedIn', user: testUser, accessToken: 'tok', sessionId: null });
  server = fakeServer({
    chats: [
      chat(D, { kind: 'direct', name: names[CAROL]!, memberCount: 2, myRole: 'member', peer: user(CAROL) }),
    ],
    users: [
      { ...user(BOB), statusText: 'On holiday' },
      user(CAROL),
      user(DAVE),
      { ...user(id('eve')), username: 'eve', displayName: 'Eve Evans' },
    ],
    contacts: [
      { user: { ...user(BOB), statusText: 'On holiday' }, online: false, lastSeenAt: at(0), since: at(0) },
    ],
    requests: [fromDave, toCarol],
  });
});

describe('contacts page', () => {
  it('lists contacts with presence and requests both ways; accept, cancel and add work', async () => {
    const u = userEvent.setup();
    renderAt('/contacts');
    const contact = await screen.findByTestId('contact');
    expect(contact).toHaveAttribute('data-user-id', BOB);
    expect(within(contact).getByTestId('contact-presence')).toHaveTextContent(
      /last seen .* ago · On holiday/,
    );
    expect(screen.getByTestId('nav-contacts-count')).toHaveTextContent('1');

    const incoming = within(screen.getByTestId('incoming-requests')).getByTestId('contact-request');
    expect(incoming).toHaveTextContent('Dave Diaz');
    await u.click(within(incoming).getByTestId('contact-accept-button'));
    await waitFor(() =>
      expect(screen.getAllByTestId('contact').map((el) => el.dataset.userId)).toEqual([BOB, DAVE]),
    );
    expect(screen.queryByTestId('incoming-requests')).toBeNull();
    expect(screen.queryByTestId('nav-contacts-count')).toBeNull();
    expect(screen.getByTestId('contacts-success')).toHaveTextContent('Dave Diaz is now a contact.');

    const outgoing = within(screen.getByTestId('outgoing-requests')).getByTestId('contact-request');
    await u.click(within(outgoing).getByTestId('contact-cancel-button'));
    await waitFor(() => expect(screen.queryByTestId('outgoing-requests')).toBeNull());
    expect(server.calls('DELETE', `/api/contacts/requests/${toCarol.id}`)).toHaveLength(1);

    const requestsBefore = server.calls('POST', '/api/contacts/requests').length;
    await u.type(screen.getByTestId('user-search-input'), 'eve');
    await u.click(await screen.findByTestId('user-search-result'));
    // Picking only shows the person; the request goes with "Add contact".
    expect(await screen.findByTestId('contact-pick')).toHaveTextContent('Eve Evans');
    expect(server.calls('POST', '/api/contacts/requests')).toHaveLength(requestsBefore);
    await u.click(screen.getByTestId('contact-pick-add'));
    expect(await screen.findByTestId('contacts-success')).toHaveTextContent('Request sent to Eve Evans.');
    expect(within(screen.getByTestId('outgoing-requests')).getByTestId('contact-request')).toHaveTextContent(
      'Eve Evans',
    );
  });

  it('removes a contact after a confirmation', async () => {
    const u = userEvent.setup();
    renderAt('/contacts');
    const contact = await screen.findByTestId('contact');
    await u.click(within(contact).getByTestId('contact-remove-button'));
    await u.click(within(contact).getByTestId('contact-remove-confirm'));
    expect(await screen.findByTestId('contacts-empty')).toBeVisible();
    expect(server.calls('DELETE', `/api/contacts/${BOB}`)).toHaveLength(1);
  });
});

describe('profile page', () => {
  it('shows the person and the actions that fit: Contact ✓, Message, Block', async () => {
    const u = userEvent.setup();
    const router = renderAt(`/users/${CAROL}`);
    expect(await screen.findByTestId('user-profile-name')).toHaveTextContent('Carol Chen');
    expect(screen.getByTestId('user-profile-username')).toHaveTextContent('@carol');
    // A sent request reads "Request sent"; pressing it cancels.
    expect(await screen.findByTestId('profile-request-sent')).toHaveTextContent('Request sent');

    await u.click(screen.getByTestId('profile-message-button'));
    await waitFor(() => expect(router.state.location.pathname).toBe(`/chats/${D}`));
  });

  it('a contact shows "Contact ✓" and presence; blocking hides presence and offers Unblock', async () => {
    const u = userEvent.setup();
    renderAt(`/users/${BOB}`);
    expect(await screen.findByTestId('profile-contact-status')).toHaveTextContent('Contact ✓');
    expect(screen.getByTestId('user-profile-presence')).toHaveTextContent(/last seen/);
    expect(screen.getByTestId('user-profile-status')).toHaveTextContent('On holiday');

    await u.click(screen.getByTestId('profile-block-button'));
    // Cancel first: nothing happens; then confirm.
    await u.click(await screen.findByTestId('confirm-cancel'));
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
    expect(server.calls('POST', `/api/users/${BOB}/block`)).toHaveLength(0);
    expect(screen.getByTestId('profile-block-button')).toHaveFocus();
    await u.click(screen.getByTestId('profile-block-button'));
    await u.click(await screen.findByTestId('confirm-button'));
    expect(await screen.findByTestId('profile-unblock-button')).toBeVisible();
    expect(screen.queryByTestId('user-profile-presence')).toBeNull();
    expect(screen.queryByTestId('profile-message-button')).toBeNull();
    expect(screen.queryByTestId('profile-contact-status')).toBeNull();
    expect(server.calls('POST', `/api/users/${BOB}/block`)).toHaveLength(1);

    await u.click(screen.getByTestId('profile-unblock-button'));
    expect(await screen.findByTestId('profile-block-button')).toBeVisible();
    // Blocking ended the contact: adding is offered again.
    expect(screen.getByTestId('profile-add-contact-button')).toBeVisible();
  });

  it('someone who asked me can be accepted from their profile; an unknown id says so', async () => {
    const u = userEvent.setup();
    renderAt(`/users/${DAVE}`);
    await u.click(await screen.findByTestId('profile-accept-contact-button'));
    expect(await screen.findByTestId('profile-contact-status')).toBeVisible();

    renderAt(`/users/${id('nobody')}`);
    expect(await screen.findByTestId('user-not-found')).toHaveTextContent('There is no such person.');
  });

  it('settings list the people I blocked, with Unblock', async () => {
    server.state.blocked = [user(DAVE)];
    const u = userEvent.setup();
    renderAt('/settings/profile');
    const row = await screen.findByTestId('blocked-user');
    expect(row).toHaveTextContent('Dave Diaz');
    await u.click(within(row).getByTestId('blocked-unblock-button'));
    expect(await screen.findByTestId('blocked-empty')).toBeVisible();
    expect(server.calls('DELETE', `/api/users/${DAVE}/block`)).toHaveLength(1);
  });
});
