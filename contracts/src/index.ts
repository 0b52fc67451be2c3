import { initContract } from '@ts-rest/core';
import { adminContract } from './rest/admin.js';
import { authContract } from './rest/auth.js';
import { chatsContract } from './rest/chats.js';
import { blocksContract, contactsContract } from './rest/contacts.js';
import { mediaContract } from './rest/media.js';
import { messagesContract } from './rest/messages.js';
import { searchContract } from './rest/search.js';
import { usersContract } from './rest/users.js';

const c = initContract();

/** Every REST endpoint of Parley, mounted under /api. */
export const contract = c.router(
  {
    auth: authContract,
    users: usersContract,
    chats: chatsContract,
    messages: messagesContract,
    contacts: contactsContract,
    blocks: blocksContract,
    admin: adminContract,
    search: searchContract,
    media: mediaContract,
  },
  { pathPrefix: '/api', strictStatusCodes: true },
);
export type Contract = typeof contract;

export * from './common.js';
export * from './device.js';
export * from './errors.js';
export * from './realtime.js';
export * from './search-highlight.js';
export * from './system-text.js';
export * from './rest/admin.js';
export * from './rest/auth.js';
export * from './rest/chats.js';
export * from './rest/contacts.js';
export * from './rest/media.js';
export * from './rest/messages.js';
export * from './rest/search.js';
export * from './rest/users.js';
