/**
 * The one catalogue of error codes Parley answers with, over REST and WebSocket.
 * Every error body is `{ error: { code, message, details? } }` (see errorBodySchema).
 * A backend test checks that each code here is documented in specs/errors.md and that
 * the server uses no code outside this list.
 */
import { z } from 'zod';

export const errorCatalogue = {
  VALIDATION_ERROR: { status: 400, message: 'The request is not valid.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  UNAUTHENTICATED: { status: 401, message: 'Sign in to continue.' },
  TOKEN_INVALID: { status: 401, message: 'The access token is invalid or has expired.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong username or password.' },
  REFRESH_TOKEN_INVALID: { status: 401, message: 'The refresh token is invalid or has expired.' },
  REFRESH_TOKEN_REUSED: {
    status: 401,
    message: 'This refresh token was already used; the session has been signed out.',
  },
  SESSION_REVOKED: { status: 401, message: 'This session has been signed out.' },
  ACCOUNT_DEACTIVATED: {
    status: 401,
    message: 'This account has been deactivated. Ask an administrator.',
  },
  WRONG_CURRENT_PASSWORD: { status: 403, message: 'The current password is wrong.' },
  NOT_A_GROUP: { status: 400, message: 'This works only in group chats.' },
  UNKNOWN_COMMAND: { status: 400, message: 'There is no such command.' },
  BLOCKED: { status: 403, message: 'You cannot message or invite this person.' },
  CHAT_REQUEST_LIMIT: {
    status: 403,
    message: 'Wait for an answer: a chat request allows 3 messages until it is accepted.',
  },
  CHAT_REQUEST_DECLINED: { status: 403, message: 'This person declined your chat request. Try again later.' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do that.' },
  REGISTRATION_CLOSED: {
    status: 403,
    message: 'Sign-up is closed on this server. Ask an administrator for an account.',
  },
  INVITE_INVALID: { status: 403, message: 'This invite code is not valid, was used already or has expired.' },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'This origin is not allowed.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'There is no such API route.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed here.' },
  USERNAME_TAKEN: { status: 409, message: 'That username is taken.' },
  ALREADY_CONTACTS: { status: 409, message: 'You are contacts already.' },
  GROUP_FULL: { status: 409, message: 'A group can have at most 300 members.' },
  MESSAGE_DELETED: { status: 409, message: 'This message was deleted.' },
  CLIENT_MSG_ID_REUSED: {
    status: 409,
    message: 'This clientMsgId was already used for a message in another chat.',
  },
  EMAIL_TAKEN: { status: 409, message: 'An account with that email exists already.' },
  UPLOAD_INCOMPLETE: {
    status: 409,
    message: 'The upload is not complete: its bytes have not all arrived.',
  },
  ALREADY_ATTACHED: { status: 409, message: 'This upload is attached to a message already.' },
  STORAGE_QUOTA_EXCEEDED: {
    status: 403,
    message: 'Your storage is full. Delete some files or ask an administrator for more space.',
  },
  MEDIA_URL_EXPIRED: { status: 403, message: 'This link has expired. Open the file again for a new one.' },
  FILE_TOO_LARGE: { status: 413, message: 'The file is too large.' },
  IMAGE_DIMENSIONS_TOO_LARGE: { status: 413, message: 'The picture has too many pixels.' },
  FILE_TYPE_NOT_ALLOWED: {
    status: 415,
    message: 'This kind of file cannot be shared: use a picture, voice note, video or document.',
  },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested range is outside the file.' },
  MALWARE_DETECTED: { status: 422, message: 'The file contains malware and was deleted.' },
  SCANNER_UNAVAILABLE: {
    status: 503,
    message: 'Files cannot be checked for viruses right now. Try again in a moment.',
  },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  FRAME_TOO_LARGE: { status: 413, message: 'The WebSocket frame is too large.' },
  UPGRADE_REQUIRED: { status: 426, message: 'Connect to /ws with a WebSocket.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  TOO_MANY_LOGIN_ATTEMPTS: {
    status: 429,
    message: 'Too many failed sign-in attempts. Try again later.',
  },
  RATE_LIMITED: { status: 429, message: 'Too many requests. Slow down.' },
  INTERNAL_ERROR: { status: 500, message: 'Something went wrong on our side.' },
  /** Overloaded or the database is unreachable: retry after `details.retryAfterMs` (and Retry-After). */
  SERVICE_UNAVAILABLE: { status: 503, message: 'The server is busy. Try again in a moment.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;
export const errorCodes = Object.keys(errorCatalogue) as [ErrorCode, ...ErrorCode[]];

/** One entry of `details` for VALIDATION_ERROR: where (`path`, dotted) and what. */
export const fieldIssueSchema = z.object({
  /** Field path inside its location, dotted: "username", "members.3". */
  path: z.string(),
  message: z.string(),
  location: z.enum(['body', 'query', 'params', 'headers']).optional(),
});
export type FieldIssue = z.infer<typeof fieldIssueSchema>;

export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(errorCodes),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;
