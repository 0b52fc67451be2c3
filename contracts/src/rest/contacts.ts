import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime, uuid } from '../common.js';
import { errorBodySchema } from '../errors.js';
import { publicUserSchema } from './users.js';

const c = initContract();

export const contactSchema = z.object({
  user: publicUserSchema,
  online: z.boolean(),
  lastSeenAt: isoDateTime.nullable(),
  /** When the two became contacts. */
  since: isoDateTime,
});
export type Contact = z.infer<typeof contactSchema>;

export const contactRequestSchema = z.object({
  id: uuid,
  /** incoming: the other person asked you; outgoing: you asked them. */
  direction: z.enum(['incoming', 'outgoing']),
  /** The other person. */
  user: publicUserSchema,
  createdAt: isoDateTime,
});
export type ContactRequest = z.infer<typeof contactRequestSchema>;

const errors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema } as const;
const idParams = z.object({ id: uuid });

export const contactsContract = c.router(
  {
    list: {
      method: 'GET',
      path: '/contacts',
      summary: 'Your contacts with their online status',
      responses: { 200: z.object({ contacts: z.array(contactSchema) }), 401: errorBodySchema },
    },
    listRequests: {
      method: 'GET',
      path: '/contacts/requests',
      summary: 'Contact requests you received and sent',
      responses: {
        200: z.object({ incoming: z.array(contactRequestSchema), outgoing: z.array(contactRequestSchema) }),
        401: errorBodySchema,
      },
    },
    request: {
      method: 'POST',
      path: '/contacts/requests',
      summary:
        'Ask someone to be your contact (201). If they had asked you already, you become contacts at once (200).',
      body: z.object({ userId: uuid }),
      responses: {
        200: z.object({ request: contactRequestSchema.nullable(), contact: contactSchema.nullable() }),
        201: z.object({ request: contactRequestSchema.nullable(), contact: contactSchema.nullable() }),
        ...errors,
        403: errorBodySchema,
        409: errorBodySchema,
      },
    },
    accept: {
      method: 'POST',
      path: '/contacts/requests/:id/accept',
      summary: 'Accept a request you received',
      pathParams: idParams,
      body: c.noBody(),
      responses: { 200: contactSchema, ...errors, 403: errorBodySchema },
    },
    dismiss: {
      method: 'DELETE',
      path: '/contacts/requests/:id',
      summary: 'Reject a request you received, or cancel one you sent',
      pathParams: idParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors },
    },
    remove: {
      method: 'DELETE',
      path: '/contacts/:id',
      summary: 'Stop being contacts with this user (either side may)',
      pathParams: idParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors },
    },
  },
  { strictStatusCodes: true },
);

export const blocksContract = c.router(
  {
    list: {
      method: 'GET',
      path: '/users/blocked',
      summary: 'The people you blocked',
      responses: { 200: z.object({ users: z.array(publicUserSchema) }), 401: errorBodySchema },
    },
    block: {
      method: 'POST',
      path: '/users/:id/block',
      summary:
        'Block someone: no direct messages, contact requests or presence between you; shared groups still work',
      pathParams: idParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors },
    },
    unblock: {
      method: 'DELETE',
      path: '/users/:id/block',
      summary: 'Unblock someone',
      pathParams: idParams,
      body: c.noBody(),
      responses: { 204: c.noBody(), ...errors },
    },
  },
  { strictStatusCodes: true },
);
