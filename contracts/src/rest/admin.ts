import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime } from '../common.js';
import { errorBodySchema } from '../errors.js';
import { registerSchema } from './auth.js';
import { selfUserSchema } from './users.js';

const c = initContract();

/** Invites last 7 days unless the administrator says otherwise (at most 30 days). */
export const createInviteSchema = z.object({
  expiresInHours: z.number().int().min(1).max(720).default(168),
});

export const inviteSchema = z.object({
  /** Shown once: the server keeps only its hash. */
  code: z.string(),
  expiresAt: isoDateTime,
});
export type Invite = z.infer<typeof inviteSchema>;

export const adminCreateUserSchema = registerSchema
  .pick({ username: true, email: true, password: true, displayName: true })
  .extend({ isAdmin: z.boolean().default(false) });
export type AdminCreateUserInput = z.input<typeof adminCreateUserSchema>;

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema } as const;

/** Administration: invites (REGISTRATION=invite) and accounts made by an administrator. */
export const adminContract = c.router(
  {
    createInvite: {
      method: 'POST',
      path: '/admin/invites',
      summary: 'Create a one-time invite code (administrators)',
      body: createInviteSchema,
      responses: { 201: inviteSchema, ...errors },
    },
    createUser: {
      method: 'POST',
      path: '/admin/users',
      summary: 'Create an account (administrators); works whatever the registration policy',
      body: adminCreateUserSchema,
      responses: { 201: selfUserSchema, ...errors, 409: errorBodySchema },
    },
  },
  { strictStatusCodes: true },
);
