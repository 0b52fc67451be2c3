/**
 * How long a request's body may take to arrive (the slow-body defence of specs/security.md).
 *
 * Every request must be received whole within HTTP_REQUEST_TIMEOUT_MS of its headers, as with
 * Node's own `requestTimeout` (which is switched off in favour of this: Node's is one value
 * for the whole server). An upload that a signed-in user or a signed URL announced with a
 * Content-Length gets longer: the base time plus that length at HTTP_UPLOAD_MIN_BYTES_PER_SECOND,
 * so a 49 MB video on a slow line arrives, while a body dribbled a byte at a time is still
 * cut off, and an anonymous client never gets more than the base time.
 *
 * When time is up and the body has not all arrived, the client gets 408 REQUEST_TIMEOUT in
 * the error shape (or, when an answer was already on its way, nothing) and the connection is
 * closed; the route reading the body sees it end early and cleans up as for any aborted upload.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { answerClientError } from './client-errors.js';

export interface BodyDeadlineOptions {
  requestTimeoutMs: number;
  uploadMinBytesPerSecond: number;
}

interface Deadline {
  startedAt: number;
  timer: NodeJS.Timeout;
  res: ServerResponse;
  options: BodyDeadlineOptions;
}

const deadlines = new WeakMap<IncomingMessage, Deadline>();

function expire(req: IncomingMessage): void {
  const deadline = deadlines.get(req);
  deadlines.delete(req);
  if (!deadline || req.complete) return;
  const { socket } = req;
  if (deadline.res.headersSent) {
    socket.destroy();
    return;
  }
  // Whatever the route does with the cut-off body afterwards must not raise on this socket.
  socket.on('error', () => {});
  answerClientError(
    Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }),
    socket,
  );
}

function arm(req: IncomingMessage, deadline: Omit<Deadline, 'timer'>, ms: number): void {
  const previous = deadlines.get(req);
  if (previous) clearTimeout(previous.timer);
  const timer = setTimeout(() => expire(req), Math.max(0, deadline.startedAt + ms - Date.now()));
  timer.unref();
  deadlines.set(req, { ...deadline, timer });
}

function disarm(req: IncomingMessage): void {
  const deadline = deadlines.get(req);
  if (deadline) clearTimeout(deadline.timer);
  deadlines.delete(req);
}

/** Every request gets the base deadline when its headers are in. */
export function installBodyDeadline(app: FastifyInstance, options: BodyDeadlineOptions): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.raw.complete) {
      arm(request.raw, { startedAt: Date.now(), res: reply.raw, options }, options.requestTimeoutMs);
      request.raw.once('end', () => disarm(request.raw));
      request.raw.once('close', () => disarm(request.raw));
    }
    done();
  });
}

/**
 * An upload route that knows who sends (a signed-in user, a valid signed URL) allows the
 * body up to `maxBytes` more time: the announced Content-Length (at most `maxBytes`) at the
 * minimum upload rate. Without a Content-Length the base deadline stays.
 */
export function allowUploadTime(request: FastifyRequest, maxBytes: number): void {
  const deadline = deadlines.get(request.raw);
  if (!deadline) return;
  const declared = Number(request.headers['content-length']);
  if (!Number.isSafeInteger(declared) || declared <= 0) return;
  const bytes = Math.min(declared, maxBytes);
  const { options } = deadline;
  const extra = Math.ceil((bytes / options.uploadMinBytesPerSecond) * 1000);
  arm(request.raw, deadline, options.requestTimeoutMs + extra);
}
