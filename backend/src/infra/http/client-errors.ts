/**
 * Node's HTTP parser refuses some requests before Fastify sees them (headers over 16 KiB, a
 * request that took too long to arrive, an unknown method, broken HTTP). Fastify's default
 * answer has its own shape; this one answers in ours and closes the connection.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from '@parley/contracts';
import { errorBody } from '../errors.js';

function classify(code: string | undefined): { status: number; code: ErrorCode; message?: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'HEADERS_TOO_LARGE' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'REQUEST_TIMEOUT' };
    case 'HPE_INVALID_METHOD':
      return { status: 405, code: 'METHOD_NOT_ALLOWED', message: 'This server does not know this method.' };
    default:
      return { status: 400, code: 'VALIDATION_ERROR', message: 'The request is not valid HTTP.' };
  }
}

/** Connections answered already: Node's parser reports every later chunk of theirs again. */
const answered = new WeakSet<Socket>();

export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
  answered.add(socket);
  const { status, code, message } = classify(err.code);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // Lingering close: what the client is still sending (the rest of a 1 MB URL, a body) is
  // read and dropped until it stops (Node's parser goes on reading it, and reports each
  // chunk here again: ignored above), so that it can finish writing and read the answer.
  // Closed with its bytes unread, the connection is reset, and a client still writing gets
  // the reset instead of the answer. Cut off after LINGER_MS at most.
  socket.once('end', () => socket.destroy());
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** How long a refused client may go on sending (and the server dropping it) before it is cut off. */
const LINGER_MS = 5_000;
