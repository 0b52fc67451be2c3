/**
 * Auth routes. The refresh token travels either in the response body (API clients) or in
 * an HttpOnly, Secure, SameSite=Strict cookie scoped to /api/auth (the web app), as the
 * client asks with `refreshTokenDelivery`.
 */
import { contract, SESSION_HINT_COOKIE } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { AppError } from '../infra/errors.js';
import { authenticate } from './authenticate.js';
import type { DeviceInfo, IssuedTokens } from './issue-session.js';
import { listSessions } from './list-sessions.js';
import { logIn } from './log-in.js';
import { refreshSession } from './refresh-session.js';
import { registerUser } from './register-user.js';
import { revokeSession } from './revoke-session.js';

export const REFRESH_COOKIE = 'parley_refresh';
export const REFRESH_COOKIE_PATH = '/api/auth';

const s = initServer();

// ts-rest hands handlers a reply typed for its own Fastify generics; cookies are all we need.
interface CookieReply {
  setCookie(name: string, value: string, options: CookieSerializeOptions): unknown;
  clearCookie(name: string, options: CookieSerializeOptions): unknown;
}

function deviceOf(request: FastifyRequest): DeviceInfo {
  return { userAgent: request.headers['user-agent'], ip: request.ip };
}

function deliver(ctx: AppContext, reply: CookieReply, issued: IssuedTokens, via: 'cookie' | 'body') {
  if (via === 'cookie') {
    reply.setCookie(REFRESH_COOKIE, issued.refreshToken, {
      httpOnly: true,
      secure: ctx.config.cookieSecure,
      sameSite: 'strict',
      path: REFRESH_COOKIE_PATH,
      expires: new Date(issued.result.refreshTokenExpiresAt),
    });
    reply.setCookie(SESSION_HINT_COOKIE, '1', {
      httpOnly: false,
      secure: ctx.config.cookieSecure,
      sameSite: 'strict',
      path: '/',
      expires: new Date(issued.result.refreshTokenExpiresAt),
    });
    return issued.result;
  }
  return { ...issued.result, refreshToken: issued.refreshToken };
}

function clearRefreshCookie(ctx: AppContext, reply: CookieReply) {
  reply.clearCookie(REFRESH_COOKIE, {
    path: REFRESH_COOKIE_PATH,
    httpOnly: true,
    secure: ctx.config.cookieSecure,
    sameSite: 'strict',
  });
  reply.clearCookie(SESSION_HINT_COOKIE, { path: '/', secure: ctx.config.cookieSecure, sameSite: 'strict' });
}

export function authRouter(ctx: AppContext) {
  return s.router(contract.auth, {
    register: async ({ body, request, reply }) => {
      const issued = await registerUser(ctx, body, deviceOf(request));
      return { status: 201, body: deliver(ctx, reply, issued, body.refreshTokenDelivery) };
    },
    login: async ({ body, request, reply }) => {
      const issued = await logIn(ctx, body, deviceOf(request));
      return { status: 200, body: deliver(ctx, reply, issued, body.refreshTokenDelivery) };
    },
    refresh: async ({ body, request, reply }) => {
      const fromBody = body?.refreshToken;
      const token = fromBody ?? request.cookies[REFRESH_COOKIE];
      if (!token) throw new AppError('REFRESH_TOKEN_INVALID', 'No refresh token was sent.');
      try {
        const issued = await refreshSession(ctx, token);
        return { status: 200, body: deliver(ctx, reply, issued, fromBody ? 'body' : 'cookie') };
      } catch (err) {
        if (!fromBody) clearRefreshCookie(ctx, reply);
        throw err;
      }
    },
    logout: async ({ request, reply }) => {
      const me = await authenticate(ctx, request);
      await revokeSession(ctx, me.userId, me.sessionId, 'logout');
      clearRefreshCookie(ctx, reply);
      return { status: 204, body: undefined };
    },
    listSessions: async ({ request }) => {
      const me = await authenticate(ctx, request);
      return { status: 200, body: { sessions: await listSessions(ctx, me.userId, me.sessionId) } };
    },
    revokeSession: async ({ request, params }) => {
      const me = await authenticate(ctx, request);
      await revokeSession(ctx, me.userId, params.id, 'revoked');
      return { status: 204, body: undefined };
    },
  });
}
