import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime, nameSchema, text, uuid } from '../common.js';
import { errorBodySchema } from '../errors.js';

const c = initContract();

export const USERNAME_PATTERN = /^[a-z0-9_.]+$/;
export const usernameSchema = text()
  .min(3, 'Use at least 3 characters.')
  .max(32, 'Use at most 32 characters.')
  .regex(USERNAME_PATTERN, 'Use only a-z, 0-9, "_" and ".".');
export const displayNameSchema = nameSchema({ max: 64, required: 'Enter a display name.' });
export const availabilitySchema = z.enum(['available', 'away', 'busy']);
export type Availability = z.infer<typeof availabilitySchema>;
export const passwordSchema = text()
  .min(8, 'Use at least 8 characters.')
  .max(128, 'Use at most 128 characters.');

/** What anyone signed in may see of a user. */
export const publicUserSchema = z.object({
  id: uuid,
  username: z.string(),
  displayName: z.string(),
  statusText: z.string(),
  availability: availabilitySchema,
  createdAt: isoDateTime,
});
export type PublicUser = z.infer<typeof publicUserSchema>;

/** What users see of themselves. */
export const selfUserSchema = publicUserSchema.extend({
  email: z.string(),
});
export type SelfUser = z.infer<typeof selfUserSchema>;

export const updateProfileSchema = z.object({
  displayName: displayNameSchema.optional(),
  statusText: text().trim().max(140, 'Use at most 140 characters.').optional(),
  availability: availabilitySchema.optional(),
});
export type UpdateProfile = z.infer<typeof updateProfileSchema>;

export const changePasswordSchema = z.object({
  currentPassword: text().min(1, 'Enter your current password.').max(128),
  newPassword: passwordSchema,
});

export const userSearchQuerySchema = z.object({
  q: text().trim().min(1, 'Type at least one character.').max(64),
  limit: z.coerce.number().int().min(1).max(50).default(20),
  /** Opaque cursor from the previous page's `nextCursor`. */
  cursor: text().max(200).optional(),
});

export const usersContract = c.router(
  {
    getMe: {
      method: 'GET',
      path: '/users/me',
      summary: 'The signed-in user',
      responses: { 200: selfUserSchema, 401: errorBodySchema },
    },
    updateMe: {
      method: 'PUT',
      path: '/users/me',
      summary: 'Edit display name, status text and availability',
      body: updateProfileSchema,
      responses: { 200: selfUserSchema, 400: errorBodySchema, 401: errorBodySchema },
    },
    changePassword: {
      method: 'PUT',
      path: '/users/me/password',
      summary: 'Change password (current one required); signs out every other session',
      body: changePasswordSchema,
      responses: {
        204: c.noBody(),
        400: errorBodySchema,
        401: errorBodySchema,
        403: errorBodySchema,
      },
    },
    search: {
      method: 'GET',
      path: '/users/search',
      summary: 'Prefix search on username or display name, excluding the caller',
      query: userSearchQuerySchema,
      responses: {
        200: z.object({ users: z.array(publicUserSchema), nextCursor: z.string().nullable() }),
        400: errorBodySchema,
        401: errorBodySchema,
      },
    },
    getUser: {
      method: 'GET',
      path: '/users/:id',
      summary: 'A user by id',
      pathParams: z.object({ id: uuid }),
      responses: {
        200: publicUserSchema,
        400: errorBodySchema,
        401: errorBodySchema,
        404: errorBodySchema,
      },
    },
  },
  { strictStatusCodes: true },
);
