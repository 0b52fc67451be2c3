import { describe, expect, it } from '@jest/globals';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from './config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/srv/parley');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config', () => {
  it('runs with nothing set: embedded PGlite under ./data, port 3000', () => {
    const config = loadConfig({}, '/srv/parley');
    expect(config.port).toBe(3000);
    expect(config.database).toEqual({ kind: 'pglite', dir: '/srv/parley/data/db' });
    expect(config.mediaDir).toBe('/srv/parley/data/media');
    expect(config.redisUrl).toBeUndefined();
    expect(config.jwt.accessTtlSeconds).toBe(900);
    expect(config.refreshTokenTtlMs).toBe(7 * 86_400_000);
  });

  it('switches to PostgreSQL when DATABASE_URL is set', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgresql://u@db:5432/parley',
      CORS_ORIGINS: 'https://a.example, https://b.example',
    });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgresql://u@db:5432/parley' });
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ COOKIE_SECURE: 'maybe' }, 'COOKIE_SECURE'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
  ])('a bad value %j stops start-up naming %s', (env, name) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name} `));
  });

  it('in production refuses the default JWT secret and a short one', () => {
    expect(problemsOf({ NODE_ENV: 'production' })[0]).toMatch(/^JWT_SECRET .*default/);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET })[0]).toMatch(/^JWT_SECRET/);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'too-short-secret' })[0]).toMatch(
      /^JWT_SECRET .*short/,
    );
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'k'.repeat(32) })).toEqual([]);
  });
});
