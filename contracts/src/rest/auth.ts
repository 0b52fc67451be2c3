import { initContract } from '@ts-rest/core';
import { z } from 'zod';
import { isoDateTime, text, uuid } from '../common.js';
import { errorBodySchema } from '../errors.js';
import { displayNameSchema, passwordSchema, selfUserSchema, usernameSchema } from './users.js';

const c = initContract();

/** Where the server puts the refresh token: the web app asks for the HttpOnly cookie, other
 * clients (CLI, load tester, scripts) for the response body. */
/**
 * A cookie without any secret, set and cleared with the HttpOnly refresh cookie: the web app
 * reads it to know whether there is a session to refresh, so a signed-out page load asks
 * nothing (and logs no 401).
 */
export const SESSION_HINT_COOKIE = 'parley_session';

export const refreshTokenDeliverySchema = z.enum(['cookie', 'body']);

const deviceFields = {
  deviceName: text().trim().min(1).max(100).optional(),
  platform: text().trim().min(1).max(50).optional(),
  refreshTokenDelivery: refreshTokenDeliverySchema.default('body'),
};

export const registerSchema = z.object({
  username: usernameSchema,
  email: text().trim().max(254).email('Enter a valid email address.'),
  password: passwordSchema,
  displayName: displayNameSchema,
  /** Needed when the server's REGISTRATION policy is `invite`: a code from an administrator. */
  inviteCode: text().trim().min(1).max(100).optional(),
  ...deviceFields,
});
export type RegisterInput = z.input<typeof registerSchema>;

export const loginSchema = z.object({
  /** Username or email. */
  login: text().trim().min(1, 'Enter your username or email.').max(254),
  password: text().min(1, 'Enter your password.').max(128),
  ...deviceFields,
});
export type LoginInput = z.input<typeof loginSchema>;

export const refreshSchema = z.object({
  /** Omit when the token travels in the cookie. */
  refreshToken: text().min(1).max(200).optional(),
});

export const authResultSchema = z.object({
  user: selfUserSchema,
  sessionId: uuid,
  accessToken: z.string(),
  accessTokenExpiresAt: isoDateTime,
  /** Present only when `refreshTokenDelivery` is "body". */
  refreshToken: z.string().optional(),
  refreshTokenExpiresAt: isoDateTime,
});
export type AuthResult = z.infer<typeof authResultSchema>;

export const deviceSessionSchema = z.object({
  id: uuid,
  deviceName: z.string(),
  platform: z.string(),
  createdAt: isoDateTime,
  lastActiveAt: isoDateTime,
  expiresAt: isoDateTime,
  current: z.boolean(),
});
export type DeviceSession = z.infer<typeof deviceSessionSchema>;

export const authContract = c.router(
  {
    register: {
      method: 'POST',
      path: '/auth/register',
      summary: 'Create an account and sign in',
      body: registerSchema,
      responses: {
        201: authResultSchema,
        400: errorBodySchema,
        403: errorBodySchema,
        409: errorBodySchema,
        429: errorBodySchema,
      },
    },
    login: {
      method: 'POST',
      path: '/auth/login',
      summary: 'Sign in with username or email',
      body: loginSchema,
      responses: {
        200: authResultSchema,
        400: errorBodySchema,
        401: errorBodySchema,
        429: errorBodySchema,
      },
    },
    refresh: {
      method: 'POST',
      path: '/auth/refresh',
      summary: 'Exchange a refresh token (body or cookie) for new tokens; the old one is spent',
      // Optional: the web app posts nothing and the token comes in its cookie.
      body: refreshSchema.optional(),
      responses: { 200: authResultSchema, 400: errorBodySchema, 401: errorBodySchema },
    },
    logout: {
      method: 'POST',
      path: '/auth/logout',
      summary: 'Sign out this session',
      body: c.noBody(),
      responses: { 204: c.noBody(), 401: errorBodySchema },
    },
    listSessions: {
      method: 'GET',
      path: '/auth/sessions',
      summary: "The caller's active device sessions",
      responses: { 200: z.object({ sessions: z.array(deviceSessionSchema) }), 401: errorBodySchema },
    },
    revokeSession: {
      method: 'DELETE',
      path: '/auth/sessions/:id',
      summary: 'Sign out one device session',
      pathParams: z.object({ id: uuid }),
      body: c.noBody(),
      responses: {
        204: c.noBody(),
        400: errorBodySchema,
        401: errorBodySchema,
        404: errorBodySchema,
      },
    },
  },
  { strictStatusCodes: true },
);
