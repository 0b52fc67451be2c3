/**
 * Contacts and blocking: ask, accept, reject or cancel a contact request, stop being
 * contacts, block and unblock. Each applies its answer to the contacts store at once; the
 * contact:* events that follow change nothing.
 */
import type { PublicUser } from '@parley/contracts';
import { api } from '../api/client';
import { confirm } from '../chat/confirm';
import { refused } from '../messaging/actions';
import { usePresenceStore } from '../messaging/presence-store';
import { dropContact, dropRequest, setBlocked, upsertContact, upsertRequest } from './contacts-store';

/** Ask someone to be my contact; if they had asked me already, we are contacts at once. */
export async function requestContact(userId: string): Promise<'requested' | 'added'> {
  const res = await api.contacts.request({ body: { userId } });
  if (res.status !== 200 && res.status !== 201) {
    const reply: { status: number; body: unknown } = res;
    refused(reply.status, reply.body);
  }
  const { request, contact } = res.body;
  if (contact) {
    upsertContact(contact);
    usePresenceStore
      .getState()
      .set(contact.user.id, { online: contact.online, lastSeenAt: contact.lastSeenAt });
    return 'added';
  }
  if (request) upsertRequest(request);
  return 'requested';
}

export async function acceptContactRequest(requestId: string): Promise<void> {
  const res = await api.contacts.accept({ params: { id: requestId } });
  if (res.status !== 200) refused(res.status, res.body);
  dropRequest(requestId);
  upsertContact(res.body);
  usePresenceStore
    .getState()
    .set(res.body.user.id, { online: res.body.online, lastSeenAt: res.body.lastSeenAt });
}

/** Reject a request I received, or cancel one I sent. */
export async function dismissContactRequest(requestId: string): Promise<void> {
  const res = await api.contacts.dismiss({ params: { id: requestId } });
  if (res.status !== 204 && res.status !== 404) refused(res.status, res.body);
  dropRequest(requestId);
}

export async function removeContact(userId: string): Promise<void> {
  const res = await api.contacts.remove({ params: { id: userId } });
  if (res.status !== 204 && res.status !== 404) refused(res.status, res.body);
  dropContact(userId);
}

/** "Block X?" before blocking: it ends the contact and stops direct messages both ways. */
export function confirmBlock(user: Pick<PublicUser, 'displayName'>): Promise<boolean> {
  return confirm({
    title: `Block ${user.displayName}?`,
    description:
      "Neither of you can message the other, contact requests end, and you stop seeing each other's presence. Groups you share keep working. You can unblock later.",
    confirmLabel: 'Block',
  });
}

/** Block: no direct messages, requests or presence either way; contact and requests end. */
export async function blockUser(user: PublicUser): Promise<void> {
  const res = await api.blocks.block({ params: { id: user.id } });
  if (res.status !== 204) refused(res.status, res.body);
  setBlocked(user, true);
  dropContact(user.id);
}

export async function unblockUser(user: PublicUser): Promise<void> {
  const res = await api.blocks.unblock({ params: { id: user.id } });
  if (res.status !== 204) refused(res.status, res.body);
  setBlocked(user, false);
}
