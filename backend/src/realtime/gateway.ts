/**
 * The WebSocket gateway at /ws: upgrade (Origin checked), authentication in the first
 * frame, frame parsing and validation, command dispatch, fan-out from the bus to the
 * sockets of this node, heartbeats, presence.
 */
import fastifyWebsocket from '@fastify/websocket';
import {
  WS_MAX_FRAME_BYTES,
  commandSchemas,
  frameSchema,
  wsCloseCodes,
  type CommandType,
} from '@parley/contracts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Duplex } from 'node:stream';
import type { AppContext } from '../app-context.js';
import { presenceAudience } from '../chats/access.js';
import { FrameBucket, UserSlots } from '../infra/budgets.js';
import { errorBody, toAppError, zodIssues } from '../infra/errors.js';
import { addressKey, createSendLimiter, isLoopback } from '../infra/rate-limit.js';
import type { Metrics } from '../infra/metrics.js';
import { Connection } from './connection.js';
import { createCommandHandlers } from './commands.js';

/** A failed offline announcement is tried again after 1 s, 2 s, 4 s… up to 30 s apart, for about 5 minutes. */
const OFFLINE_RETRY_FIRST_MS = 1000;
const OFFLINE_RETRY_MAX_MS = 30_000;
const OFFLINE_RETRIES = 14;

/** The answer to an upgrade that arrives while the server closes. */
const REFUSED_UPGRADE =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n';

/** How long a drained socket's client has to answer the close handshake. */
const CLOSE_GRACE_MS = 2000;

/** A drain closes its sockets in slices this far apart. */
const DRAIN_TICK_MS = 50;

/** ws closes the socket (1009) for frames beyond this; below it we answer FRAME_TOO_LARGE. */
const HARD_FRAME_LIMIT = 1024 * 1024;
/** What a paused socket may still deliver (what `ws` had read) before it counts as flooding. */
const HELD_MAX_BYTES = 4 * HARD_FRAME_LIMIT;

export async function registerGateway(
  app: FastifyInstance,
  ctx: AppContext,
  metrics: Metrics,
): Promise<void> {
  const byUser = new Map<string, Set<Connection>>();
  const bySession = new Map<string, Set<Connection>>();
  const all = new Set<Connection>();
  const { typing } = ctx;

  const index = (map: Map<string, Set<Connection>>, key: string, conn: Connection, add: boolean) => {
    const set = map.get(key) ?? new Set<Connection>();
    if (add) set.add(conn);
    else set.delete(conn);
    if (set.size) map.set(key, set);
    else map.delete(key);
  };

  /** Sockets open on this node per client address (counted from the upgrade). */
  const byAddress = new Map<string, number>();
  const { wsFrames, wsMaxSockets } = ctx.config;
  // Per node, in memory: what it guards is this node's own work (see wsConnectsPerAddress).
  const connects = createSendLimiter({ name: 'ws-connect', ...ctx.config.wsConnectsPerAddress });
  const slots = new UserSlots(ctx.config.userCommandsInFlight);
  /** Each user's frames over all their sockets on this node (while they have one). */
  const userFrames = new Map<string, FrameBucket>();
  const userFrameBucket = (userId: string) => {
    let bucket = userFrames.get(userId);
    if (!bucket) {
      bucket = new FrameBucket(wsFrames.userPerSecond, wsFrames.userBurst);
      userFrames.set(userId, bucket);
    }
    return bucket;
  };

  const handlers = createCommandHandlers(ctx);
  /** Sockets in the indexes and counted by presence (authenticated and acked). */
  const joined = new WeakSet<Connection>();

  /** After the auth ack: deliveries start (from the position in the ack), then presence. */
  async function authenticated(conn: Connection) {
    if (!conn.open) return; // closed while authenticating: `disconnected` has run already
    joined.add(conn);
    index(byUser, conn.userId!, conn, true);
    index(bySession, conn.sessionId!, conn, true);
    // Anything appended between reading the head and joining the index.
    conn.requestDrain();
    if (await ctx.presence.connected(conn.userId!)) await cameOnline(conn.userId!);
  }

  async function disconnected(conn: Connection) {
    all.delete(conn);
    const { userId, sessionId } = conn;
    if (!userId || !sessionId || !joined.has(conn)) return;
    joined.delete(conn);
    index(byUser, userId, conn, false);
    index(bySession, sessionId, conn, false);
    if (!(await ctx.presence.disconnected(userId))) return;
    await announceOffline(userId);
  }

  /**
   * `wentOffline`, tried again with backoff while it fails (the database or Redis is away),
   * for as long as the user stays offline: their contacts must not see them online forever
   * because the moment they left was a bad one.
   */
  async function announceOffline(userId: string, attempt = 0): Promise<void> {
    try {
      await wentOffline(userId);
    } catch (err) {
      if (attempt >= OFFLINE_RETRIES) throw err;
      ctx.log.warn({ err, userId, attempt }, 'offline announcement failed; retrying');
      const delay = Math.min(OFFLINE_RETRY_MAX_MS, OFFLINE_RETRY_FIRST_MS * 2 ** attempt);
      const timer = setTimeout(() => {
        retrying.delete(timer);
        void (async () => {
          // Back in the meantime: nothing to announce.
          if ((await ctx.presence.onlineAmong([userId])).has(userId)) return;
          await announceOffline(userId, attempt + 1);
        })().catch((e) => ctx.log.warn({ err: e, userId }, 'offline announcement failed'));
      }, delay);
      timer.unref();
      retrying.add(timer);
    }
  }

  /** The user's last socket anywhere is gone: typing stops, last seen, `presence:offline`. */
  async function wentOffline(userId: string) {
    await typing.stopAll(userId);
    const lastSeenAt = ctx.now();
    await ctx.db.sql(TOUCH_LAST_SEEN, [userId, lastSeenAt]).catch(() => undefined);
    await ctx.events.toUsers(await presenceAudience(ctx, userId), {
      type: 'presence:offline',
      data: { userId, lastSeenAt: lastSeenAt.toISOString() },
    });
  }

  async function cameOnline(userId: string) {
    await ctx.events.toUsers(await presenceAudience(ctx, userId), {
      type: 'presence:online',
      data: { userId },
    });
  }

  const unsubscribe = ctx.bus.subscribe((message) => {
    if (message.kind === 'inbox') {
      const { userIds, event, appended, timing } = message;
      userIds.forEach((userId, i) => {
        const conns = byUser.get(userId);
        if (!conns) return;
        const at = event && appended?.[i];
        for (const conn of conns) {
          if (at) conn.offer(event, at[0], at[1], timing);
          else conn.requestDrain();
        }
      });
    } else if (message.kind === 'ephemeral') {
      for (const userId of message.userIds)
        for (const conn of byUser.get(userId) ?? []) conn.sendEphemeral(message.event);
    } else if (message.kind === 'close-sessions') {
      for (const sessionId of message.sessionIds) {
        for (const conn of bySession.get(sessionId) ?? [])
          conn.socket.close(wsCloseCodes.policyViolation, 'Session ended');
      }
    }
  });

  const heartbeat = setInterval(() => {
    for (const conn of all) {
      if (!conn.alive) {
        conn.socket.terminate();
        continue;
      }
      conn.alive = false;
      conn.socket.ping();
    }
  }, ctx.config.wsHeartbeatMs);
  heartbeat.unref();

  /** Offline announcements waiting to be tried again. */
  const retrying = new Set<NodeJS.Timeout>();
  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    for (const timer of retrying) clearTimeout(timer);
    unsubscribe();
  });

  /** Departures still running (presence and last seen go to the database and Redis). */
  const leaving = new Set<Promise<void>>();
  let draining = false;

  /** Answers what the socket had sent, then closes it: its device reconnects elsewhere and resumes. */
  async function sendAway(conn: Connection) {
    conn.closing = true;
    // Frames already on their way are answered too (refused: sent again after reconnecting),
    // until a turn of the event loop brings no new one. One sent after that meets a closing
    // socket and goes unanswered; its device sends it again on its next connection.
    let seen: number;
    do {
      seen = conn.received;
      await conn.commandsAnswered;
      await new Promise((resolve) => setImmediate(resolve));
    } while (conn.received !== seen);
    const { socket } = conn;
    if (socket.readyState === socket.CLOSED) return;
    const closed = new Promise<void>((resolve) => {
      // A client that does not answer the close handshake is cut off after a moment.
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, CLOSE_GRACE_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    socket.close(wsCloseCodes.goingAway, 'Server restarting: reconnect');
    await closed;
  }

  ctx.sockets = {
    get draining() {
      return draining;
    },
    async drain(spreadMs) {
      draining = true;
      const conns = [...all];
      if (conns.length === 0) return;
      // In slices every DRAIN_TICK_MS, so the last goes at about spreadMs.
      const ticks = Math.max(1, Math.floor(spreadMs / DRAIN_TICK_MS));
      const perTick = Math.ceil(conns.length / ticks);
      const away: Promise<void>[] = [];
      for (let i = 0; i < conns.length; i += perTick) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, DRAIN_TICK_MS));
        for (const conn of conns.slice(i, i + perTick)) if (conn.open) away.push(sendAway(conn));
      }
      await Promise.all(away);
    },
    async idle() {
      for (const conn of all) conn.socket.terminate();
      while (leaving.size) await Promise.allSettled([...leaving]);
    },
    // Wake-ups published while this node's bus subscription was down are lost: every socket
    // reads its inbox (a lost position there means sync:resync, as always).
    catchUp() {
      for (const conns of byUser.values()) for (const conn of conns) conn.requestDrain();
    },
    // Presence changed other than by a socket of this node (another node died, or came back
    // after being taken for dead): exactly one node is told, and it announces.
    presenceChanged(change) {
      for (const userId of change.offline) {
        void announceOffline(userId).catch((err) =>
          ctx.log.warn({ err, userId }, 'offline announcement failed'),
        );
      }
      for (const userId of change.online) {
        void cameOnline(userId).catch((err) => ctx.log.warn({ err, userId }, 'online announcement failed'));
      }
    },
  };

  await app.register(fastifyWebsocket, {
    options: { maxPayload: HARD_FRAME_LIMIT },
    // A client that breaks the WebSocket protocol (a frame over the hard limit, text that is
    // not UTF-8, a bad opcode) is its own problem, not the server's: `ws` has already begun
    // closing the socket with the right code (1009, 1007, 1002), so leave it to finish the
    // closing handshake and log one info line. The plugin's default would log an error with
    // a stack trace, which any client could repeat at will, and terminate the socket before
    // the close frame left (the client saw 1006).
    errorHandler(error, socket, request) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
        request.log.info({ code, reason: error.message }, 'ws protocol error from the client');
        return;
      }
      request.log.error({ err: error }, 'ws connection failed');
      socket.terminate();
    },
    // After the drain (start-app's close): no more upgrades (a request arriving now would get
    // Fastify's closing 503 on a socket nothing ever destroys, and the close would wait for
    // it forever), and whatever socket is left is ended at once: it was asked to go by the
    // drain, or came too late.
    preClose(done) {
      this.server.removeAllListeners('upgrade');
      this.server.on('upgrade', (_request, socket: Duplex) => {
        socket.on('error', () => undefined);
        socket.end(REFUSED_UPGRADE, () => socket.destroy());
      });
      for (const client of this.websocketServer.clients) client.terminate();
      this.websocketServer.close(() => done());
    },
  });

  app.route({
    method: 'GET',
    url: '/ws',
    preValidation: async (request, reply) => {
      if (!originAllowed(request, ctx.config.corsOrigins)) {
        return reply.code(403).send(errorBody('ORIGIN_NOT_ALLOWED'));
      }
      const exempt = ctx.config.addressLimitsExemptLoopback && isLoopback(request.ip);
      if (!exempt) {
        const allowance = await connects.take(addressKey(request.ip));
        if (!allowance.ok) {
          return reply
            .code(429)
            .header('retry-after', String(Math.ceil(allowance.retryAfterMs / 1000)))
            .send(
              errorBody('RATE_LIMITED', 'Too many connection attempts from your address. Wait a moment.', {
                retryAfterMs: allowance.retryAfterMs,
              }),
            );
        }
      }
      if (!exempt && (byAddress.get(addressKey(request.ip)) ?? 0) >= wsMaxSockets.perAddress) {
        return reply
          .code(429)
          .header('retry-after', '10')
          .send(
            errorBody('RATE_LIMITED', 'Too many connections from your address.', { retryAfterMs: 10_000 }),
          );
      }
      // Shutting down: the client's next try lands on another node (or on this one restarted).
      if (draining) {
        return reply
          .code(503)
          .header('retry-after', '1')
          .send(
            errorBody('SERVICE_UNAVAILABLE', 'This server is restarting. Reconnect.', { retryAfterMs: 1000 }),
          );
      }
    },
    handler: async (_request, reply) =>
      reply.code(426).header('upgrade', 'websocket').send(errorBody('UPGRADE_REQUIRED')),
    wsHandler: (socket, request) => {
      const conn = new Connection(socket, ctx, request.log, metrics.delivery);
      all.add(conn);
      metrics.wsConnections.inc();
      const address = addressKey(request.ip);
      byAddress.set(address, (byAddress.get(address) ?? 0) + 1);
      const frames = new FrameBucket(wsFrames.perSecond, wsFrames.burst);
      // Frames that arrived in time are answered first: a server slowed by a reconnect storm
      // must not close sockets whose auth it simply has not got to yet.
      const closeUnauthenticated = () => {
        if (!conn.userId) socket.close(wsCloseCodes.policyViolation, 'Authentication timed out');
      };
      const authTimer = setTimeout(() => {
        if (!conn.userId) void conn.commandsAnswered.then(closeUnauthenticated);
      }, ctx.config.wsAuthTimeoutMs);

      socket.on('pong', () => {
        conn.alive = true;
      });
      socket.on('close', () => {
        clearTimeout(authTimer);
        metrics.wsConnections.dec();
        const left = (byAddress.get(address) ?? 1) - 1;
        if (left > 0) byAddress.set(address, left);
        else byAddress.delete(address);
        const departure: Promise<void> = disconnected(conn)
          .catch((err) => request.log.error({ err }, 'ws disconnect handling failed'))
          .finally(() => leaving.delete(departure));
        leaving.add(departure);
        // The user's last socket here is gone (disconnected left the index at once).
        if (conn.userId && !byUser.has(conn.userId)) userFrames.delete(conn.userId);
      });
      socket.on('error', () => undefined);
      // Frames beyond the socket's rate, or its user's over all their sockets here, are
      // neither refused nor parsed: the socket stops being read (TCP backpressure: the
      // client's own sends wait) and what it sent is read at the allowed rate, in order.
      // A flooding client costs the node the frames its allowance lets through and a timer,
      // and has no reason to reconnect (a reconnect storm cost more than the flood).
      const held: { buf: Buffer; isBinary: boolean }[] = [];
      let heldBytes = 0;
      let releaseTimer: NodeJS.Timeout | undefined;
      const frameWaitMs = () =>
        Math.max(frames.waitMs(), conn.userId === undefined ? 0 : userFrameBucket(conn.userId).waitMs());
      /** A frame from both allowances (the socket's and its user's), or none. */
      const takeFrame = () => {
        const user = conn.userId === undefined ? undefined : userFrameBucket(conn.userId);
        if (frames.waitMs() > 0 || (user && user.waitMs() > 0)) return false;
        frames.spend();
        user?.spend();
        return true;
      };
      const release = () => {
        releaseTimer = undefined;
        if (socket.readyState !== socket.OPEN) return;
        while (held.length && takeFrame()) {
          const frame = held.shift()!;
          heldBytes -= frame.buf.length;
          onFrame(frame.buf, frame.isBinary);
        }
        if (held.length) holdFor(frameWaitMs());
        else socket.resume();
      };
      const holdFor = (ms: number) => {
        releaseTimer = setTimeout(release, Math.max(1, Math.ceil(ms)));
      };
      socket.on('close', () => clearTimeout(releaseTimer));
      socket.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        if (socket.readyState !== socket.OPEN) return;
        // Any frame shows the client is there (a paused socket's pong may wait behind its frames).
        conn.alive = true;
        const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
        if (held.length === 0 && takeFrame()) {
          onFrame(buf, isBinary);
          return;
        }
        held.push({ buf, isBinary });
        heldBytes += buf.length;
        // Paused, a socket delivers only what `ws` had already read; more than that is a
        // client (or a proxy) that does not honour TCP flow control.
        if (heldBytes > HELD_MAX_BYTES) {
          metrics.wsCommands.inc({ type: 'frame', outcome: 'FLOOD' });
          socket.close(wsCloseCodes.policyViolation, 'Too many frames: slow down');
          return;
        }
        if (!releaseTimer) {
          metrics.wsCommands.inc({ type: 'frame', outcome: 'HELD' });
          socket.pause();
          holdFor(frameWaitMs());
        }
      });
      const onFrame = (buf: Buffer, isBinary: boolean) => {
        if (buf.length > WS_MAX_FRAME_BYTES) {
          conn.fail(undefined, 'FRAME_TOO_LARGE', `Frames are limited to ${WS_MAX_FRAME_BYTES} bytes.`);
          return;
        }
        // Frames that arrive once the socket is being sent away are refused (retryable): its
        // device sends them again after reconnecting.
        const refuse = conn.closing;
        const accepted = conn.enqueue(() =>
          handleFrame(conn, isBinary ? null : buf.toString('utf8'), refuse),
        );
        if (!accepted) conn.fail(undefined, 'RATE_LIMITED', 'Too many commands waiting. Slow down.');
      };
    },
  });

  async function handleFrame(conn: Connection, text: string | null, refuse = false): Promise<void> {
    // Frames queued behind a socket that has since closed (cut off for flooding, or gone)
    // are not run: nobody would get the answers.
    if (conn.socket.readyState === conn.socket.CLOSED) return;
    let json: unknown;
    try {
      if (text === null) throw new Error('binary');
      json = JSON.parse(text);
    } catch {
      conn.fail(undefined, 'INVALID_JSON', 'Frames must be JSON text.');
      return;
    }
    const maybeId =
      json && typeof json === 'object' && typeof (json as { id?: unknown }).id === 'string'
        ? ((json as { id: string }).id.slice(0, 64) as string)
        : undefined;
    const frame = frameSchema.safeParse(json);
    if (!frame.success) {
      conn.fail(maybeId, 'VALIDATION_ERROR', 'A frame is { type, id?, data }.', zodIssues(frame.error));
      return;
    }
    const { type, id } = frame.data;
    // A socket being sent away still takes acks: what its device confirms is delivered.
    if (refuse && type !== 'sync:ack') {
      conn.fail(id, 'SERVICE_UNAVAILABLE', 'This server is restarting. Reconnect and send again.', {
        retryAfterMs: 1000,
      });
      return;
    }
    if (!Object.hasOwn(commandSchemas, type)) {
      conn.fail(id, 'UNKNOWN_COMMAND', `There is no command "${type}".`);
      return;
    }
    const command = type as CommandType;
    if (!conn.userId && command !== 'auth') {
      conn.fail(id, 'UNAUTHENTICATED', 'Send auth first.');
      return;
    }
    const data = commandSchemas[command].safeParse(frame.data.data ?? {});
    if (!data.success) {
      conn.fail(id, 'VALIDATION_ERROR', 'Some fields are not valid.', zodIssues(data.error));
      return;
    }
    const firstAuth = command === 'auth' && !conn.userId;
    // Every command type but sends (their own limiter) has its own allowance per user. Acks
    // are not counted: a device sends a few a second to confirm what it got (the socket's
    // frame allowance still bounds them), and a refusal would only delay its receipts.
    if (conn.userId && command !== 'message:send' && command !== 'sync:ack') {
      const allowance = await ctx.budgets.command(conn.userId, command);
      if (!allowance.ok) {
        metrics.wsCommands.inc({ type: command, outcome: 'RATE_LIMITED' });
        conn.fail(id, 'RATE_LIMITED', `Too many ${command} commands. Wait a moment.`, {
          retryAfterMs: allowance.retryAfterMs,
        });
        return;
      }
    }
    try {
      const run = () =>
        (handlers[command] as (c: Connection, d: unknown) => Promise<unknown>)(conn, data.data);
      const result = conn.userId && command !== 'sync:ack' ? await slots.run(conn.userId, run) : await run();
      if (firstAuth && conn.userId && (byUser.get(conn.userId)?.size ?? 0) >= wsMaxSockets.perUser) {
        // One account's sockets on this node are capped: the newest is refused.
        const userId = conn.userId;
        conn.userId = undefined;
        conn.sessionId = undefined;
        metrics.wsCommands.inc({ type: command, outcome: 'TOO_MANY_SOCKETS' });
        conn.fail(
          id,
          'RATE_LIMITED',
          `This account has ${wsMaxSockets.perUser} connections open here already. Close one first.`,
          { retryAfterMs: 10_000 },
        );
        conn.log.warn({ userId }, 'ws refused: too many sockets for one account');
        conn.socket.close(wsCloseCodes.policyViolation, 'Too many connections for this account');
        return;
      }
      conn.ack(id, result);
      metrics.wsCommands.inc({ type: command, outcome: 'ok' });
    } catch (err) {
      const known = toAppError(err);
      metrics.wsCommands.inc({ type: command, outcome: known ? known.code : 'INTERNAL_ERROR' });
      if (known) {
        conn.fail(id, known.code, known.message, known.details);
      } else {
        conn.log.error({ err, command }, 'ws command failed');
        conn.fail(id, 'INTERNAL_ERROR');
      }
    }
    if (firstAuth && conn.userId) {
      await authenticated(conn).catch((err) => conn.log.error({ err }, 'ws join failed'));
    }
  }
}

/** Browsers always send Origin: it must be this server or an allowed origin. */
function originAllowed(request: FastifyRequest, allowed: string[]): boolean {
  const origin = request.headers.origin;
  if (!origin) return true;
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === request.host;
  } catch {
    return false;
  }
}

const TOUCH_LAST_SEEN = {
  name: 'presence-last-seen',
  text: `UPDATE users SET last_seen_at = $2 WHERE id = $1::uuid`,
};
