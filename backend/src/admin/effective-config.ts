/**
 * The configuration a node would run with (environment and defaults, as config.ts reads
 * them), for `npm run admin -- config`, with every secret masked: the JWT secret, the S3
 * keys, and passwords inside the database and Redis URLs.
 */
import type { Config } from '../infra/config.js';

export const MASK = '********';

/** A URL with its password (and a user name that is a key) replaced by the mask. */
export function maskUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = MASK;
    return parsed.toString();
  } catch {
    return MASK;
  }
}

export function effectiveConfig(config: Config): Record<string, unknown> {
  const { jwt, database, redisUrl, media } = config;
  return {
    ...structuredClone({ ...config, jwt: undefined }),
    jwt: { ...jwt, secret: MASK },
    database: database.kind === 'postgres' ? { ...database, url: maskUrl(database.url) } : database,
    redisUrl: maskUrl(redisUrl),
    media: {
      ...media,
      storage:
        media.storage.kind === 's3' ? { ...media.storage, accessKey: MASK, secretKey: MASK } : media.storage,
    },
  };
}
