/**
 * Each user's access token, kept fresh for reconnects and REST calls late in a long run
 * (access tokens last 15 minutes; a socket stays authenticated past that, but a new one
 * needs a valid token). A token close to expiry, or one the server refused, is renewed once
 * per user however many of the user's devices ask at the same time: with the refresh token
 * (one attempt only: a refresh token works once, and showing a spent one again revokes the
 * session), or, if that fails, by signing in again.
 */
import { authResultSchema, type LoginInput } from '@parley/contracts';
import { ApiClient } from './api.js';

export interface Credentials {
  username: string;
  password: string;
  accessToken: string;
  /** ms since the epoch. */
  accessTokenExpiresAt: number;
  refreshToken: string | undefined;
}

/** Renew a token that has less than this left. */
const RENEW_BEFORE_MS = 2 * 60_000;

export class TokenBook {
  private readonly renewing = new Map<number, Promise<string>>();
  /** Renewals done (refresh or sign-in), and how many fell back to signing in. */
  renewals = 0;
  logins = 0;

  constructor(
    private readonly users: Credentials[],
    /** The servers to ask, first choice first (the next ones when one does not answer). */
    private readonly apis: readonly ApiClient[],
    private readonly now: () => number = Date.now,
  ) {}

  /** The token as it is (no network). */
  current(user: number): string {
    return this.users[user]!.accessToken;
  }

  /** A token good for a while, renewed first if it is about to expire. */
  async get(user: number): Promise<string> {
    const c = this.users[user]!;
    if (c.accessTokenExpiresAt - this.now() > RENEW_BEFORE_MS) return c.accessToken;
    return this.renew(user, c.accessToken);
  }

  /**
   * A new token for `user`, because `stale` was refused or is about to expire. If another
   * caller renewed it meanwhile, that token is the answer: one renewal per user at a time.
   */
  renew(user: number, stale: string): Promise<string> {
    const c = this.users[user]!;
    if (c.accessToken !== stale) return Promise.resolve(c.accessToken);
    let pending = this.renewing.get(user);
    if (!pending) {
      pending = this.renewNow(c).finally(() => this.renewing.delete(user));
      this.renewing.set(user, pending);
    }
    return pending;
  }

  private async renewNow(c: Credentials): Promise<string> {
    this.renewals += 1;
    if (c.refreshToken) {
      const refreshToken = c.refreshToken;
      // Spent whatever happens: a lost answer must not be followed by a second try with it.
      c.refreshToken = undefined;
      for (const api of this.apis) {
        try {
          const res = await api.post('/api/auth/refresh', { refreshToken }, authResultSchema, undefined, 1);
          return this.keep(c, res);
        } catch {
          // Whether the server took it or not is unknown: never show it again; sign in below.
          break;
        }
      }
    }
    this.logins += 1;
    const body: LoginInput = {
      login: c.username,
      password: c.password,
      deviceName: 'parley-load',
      platform: 'loadtest',
      refreshTokenDelivery: 'body',
    };
    let last: unknown;
    for (const api of this.apis) {
      try {
        return this.keep(c, await api.post('/api/auth/login', body, authResultSchema));
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  private keep(
    c: Credentials,
    res: { accessToken: string; accessTokenExpiresAt: string; refreshToken?: string | undefined },
  ): string {
    c.accessToken = res.accessToken;
    c.accessTokenExpiresAt = Date.parse(res.accessTokenExpiresAt);
    c.refreshToken = res.refreshToken;
    return c.accessToken;
  }
}
