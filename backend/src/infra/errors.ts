/**
 * AppError carries a code from the contract's catalogue; `toErrorBody` is the one place
 * that turns any error into the wire shape `{ error: { code, message, details? } }`.
 */
import { errorCatalogue, type ErrorBody, type ErrorCode, type FieldIssue } from '@parley/contracts';
import type { ZodError } from 'zod';
import { isTransientDbError } from './db/transient.js';

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? errorCatalogue[code].message);
    this.name = 'AppError';
    this.status = errorCatalogue[code].status;
  }
}

/** How long a client should wait before retrying when the server is busy or the database away. */
export const BUSY_RETRY_AFTER_MS = 1_000;

/** The retryable "busy" error: overload, or the database briefly unreachable. */
export function serviceUnavailable(retryAfterMs = BUSY_RETRY_AFTER_MS, message?: string): AppError {
  return new AppError(
    'SERVICE_UNAVAILABLE',
    message,
    { retryAfterMs },
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
}

/** The retryable "too fast" error of a per-user allowance. */
export function rateLimited(retryAfterMs: number, message = 'Too many requests. Wait a moment.'): AppError {
  return new AppError(
    'RATE_LIMITED',
    message,
    { retryAfterMs },
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
}

/**
 * ioredis giving up on a command because Redis is away (REDIS_URL: the inbox read by a
 * socket's auth or resume, presence): an outage to wait out, like the database's.
 */
function isRedisAway(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  return (
    typeof e.message === 'string' &&
    (e.message === 'Connection is closed.' || e.message.startsWith("Stream isn't writeable"))
  );
}

/**
 * Errors with a meaning for the client: AppErrors as they are, and outages or saturation of
 * the database (or Redis) as SERVICE_UNAVAILABLE. Anything else is a bug (null: the caller
 * answers 500).
 */
export function toAppError(err: unknown): AppError | null {
  if (err instanceof AppError) return err;
  if (isTransientDbError(err) || isRedisAway(err)) return serviceUnavailable();
  return null;
}

export function errorBody(code: ErrorCode, message?: string, details?: unknown): ErrorBody {
  return {
    error: {
      code,
      message: message ?? errorCatalogue[code].message,
      ...(details === undefined ? {} : { details }),
    },
  };
}

export function zodIssues(error: ZodError, location?: FieldIssue['location']): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
    ...(location ? { location } : {}),
  }));
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  validation?: unknown;
}

/** Maps any thrown value to an HTTP status and error body. Unknown errors become 500. */
export function toHttpError(err: unknown): {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
} {
  const known = toAppError(err);
  if (known) {
    return {
      status: known.status,
      body: errorBody(known.code, known.message, known.details),
      headers: known.headers,
    };
  }
  const e = (err ?? {}) as FastifyLikeError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: errorBody('PAYLOAD_TOO_LARGE') };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 415, body: errorBody('UNSUPPORTED_MEDIA_TYPE') };
    case 'FST_ERR_BAD_URL':
      return {
        status: 400,
        body: errorBody('VALIDATION_ERROR', 'The URL is not valid.', [
          { path: 'url', message: 'Not a valid percent-encoded URL.' },
        ]),
      };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        status: 400,
        body: errorBody('VALIDATION_ERROR', 'The URL is not valid.', [
          { path: 'url', message: 'A path parameter is too long.', location: 'params' },
        ]),
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: errorBody('INVALID_JSON') };
    default:
      break;
  }
  if (err instanceof SyntaxError && e.statusCode === 400) {
    return { status: 400, body: errorBody('INVALID_JSON') };
  }
  if (e.statusCode === 429) return { status: 429, body: errorBody('RATE_LIMITED') };
  if (e.statusCode === 503) return { status: 503, body: errorBody('SERVICE_UNAVAILABLE') };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: 400, body: errorBody('VALIDATION_ERROR') };
  }
  return { status: 500, body: errorBody('INTERNAL_ERROR') };
}
