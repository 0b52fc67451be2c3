/**
 * My contacts, the contact requests I received and sent, and the people I blocked. Loaded
 * from REST with the chat list and kept current by the contact:* events (blocks have no
 * event: they change only by my own hand, here or on another device at the next re-sync).
 */
import type { Contact, ContactRequest, PublicUser } from '@parley/contracts';
import { create } from 'zustand';

interface ContactsState {
  contacts: Record<string, Contact>;
  /** By request id. */
  requests: Record<string, ContactRequest>;
  blocked: Record<string, PublicUser>;
  loaded: boolean;
  setAll: (data: { contacts: Contact[]; requests: ContactRequest[]; blocked: PublicUser[] }) => void;
  clear: () => void;
}

export const useContactsStore = create<ContactsState>()((set) => ({
  contacts: {},
  requests: {},
  blocked: {},
  loaded: false,
  setAll: ({ contacts, requests, blocked }) =>
    set({
      contacts: Object.fromEntries(contacts.map((c) => [c.user.id, c])),
      requests: Object.fromEntries(requests.map((r) => [r.id, r])),
      blocked: Object.fromEntries(blocked.map((u) => [u.id, u])),
      loaded: true,
    }),
  clear: () => set({ contacts: {}, requests: {}, blocked: {}, loaded: false }),
}));

export function upsertContact(contact: Contact): void {
  useContactsStore.setState((s) => {
    // Becoming contacts answers every request between the two.
    const requests = Object.fromEntries(
      Object.entries(s.requests).filter(([, r]) => r.user.id !== contact.user.id),
    );
    return { contacts: { ...s.contacts, [contact.user.id]: contact }, requests };
  });
}

export function dropContact(userId: string): void {
  useContactsStore.setState((s) => {
    if (!s.contacts[userId]) return s;
    const contacts = { ...s.contacts };
    delete contacts[userId];
    return { contacts };
  });
}

export function upsertRequest(request: ContactRequest): void {
  useContactsStore.setState((s) =>
    // A request between contacts is stale news (replayed after the acceptance).
    s.contacts[request.user.id] ? s : { requests: { ...s.requests, [request.id]: request } },
  );
}

export function dropRequest(requestId: string): void {
  useContactsStore.setState((s) => {
    if (!s.requests[requestId]) return s;
    const requests = { ...s.requests };
    delete requests[requestId];
    return { requests };
  });
}

export function setBlocked(user: PublicUser, blocked: boolean): void {
  useContactsStore.setState((s) => {
    if (blocked) return { blocked: { ...s.blocked, [user.id]: user } };
    if (!s.blocked[user.id]) return s;
    const next = { ...s.blocked };
    delete next[user.id];
    return { blocked: next };
  });
}

/** Requests sorted newest first, split by direction. */
export function requestsByDirection(requests: Record<string, ContactRequest>): {
  incoming: ContactRequest[];
  outgoing: ContactRequest[];
} {
  const all = Object.values(requests).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return {
    incoming: all.filter((r) => r.direction === 'incoming'),
    outgoing: all.filter((r) => r.direction === 'outgoing'),
  };
}

/** Where I stand with someone, for the profile page's contact button. */
export type Relation =
  | { kind: 'contact' }
  | { kind: 'outgoing'; requestId: string }
  | { kind: 'incoming'; requestId: string }
  | { kind: 'none' };

export function relationTo(state: Pick<ContactsState, 'contacts' | 'requests'>, userId: string): Relation {
  if (state.contacts[userId]) return { kind: 'contact' };
  const request = Object.values(state.requests).find((r) => r.user.id === userId);
  if (!request) return { kind: 'none' };
  return { kind: request.direction, requestId: request.id };
}
