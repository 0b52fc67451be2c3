/**
 * buildApp(): the whole HTTP server, not yet listening, so tests can start it on any port.
 */
import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import fastifyMultipart from '@fastify/multipart';
import { contract, MAX_ATTACHMENTS } from '@parley/contracts';
import { initServer } from '@ts-rest/fastify';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { AppContext } from './app-context.js';
import { adminRouter } from './admin/routes.js';
import { authRouter } from './auth/routes.js';
import { registerHealthRoutes } from './health/routes.js';
import { AppError, errorBody, toHttpError, zodIssues } from './infra/errors.js';
import { installBodyDeadline } from './infra/http/body-deadline.js';
import { answerClientError } from './infra/http/client-errors.js';
import { registerSpa } from './infra/http/spa.js';
import { usersRouter } from './users/routes.js';
import { chatsRouter } from './chats/routes.js';
import { blocksRouter, contactsRouter } from './contacts/routes.js';
import { messagesRouter } from './messages/routes.js';
import { registerGateway } from './realtime/gateway.js';
import { searchRouter } from './search/routes.js';
import { sourceKey } from './media/receive-upload.js';
import { mediaRouter } from './media/routes.js';

/** The one route that takes raw bytes (application/octet-stream). */
const DIRECT_UPLOAD_ROUTE = '/api/media/uploads/:mediaId/content';
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes(): { method: string; url: string }[];
  }
}

export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const { config } = ctx;
  const app = Fastify({
    loggerInstance: ctx.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
    // Slow clients are cut off (issue 11): the headers must arrive within
    // HTTP_HEADERS_TIMEOUT_MS (Node checks it every checking interval, kept well under it),
    // the body within its deadline (infra/http/body-deadline.ts: HTTP_REQUEST_TIMEOUT_MS, more
    // for announced uploads, so Node's own single request timeout is off), a silent connection
    // is closed after HTTP_IDLE_TIMEOUT_MS, an idle keep-alive one after HTTP_KEEP_ALIVE_TIMEOUT_MS.
    requestTimeout: 0,
    connectionTimeout: config.http.idleTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    http: {
      requestTimeout: 0,
      headersTimeout: config.http.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1_000, Math.floor(config.http.headersTimeoutMs / 4)),
      ),
    },
    // Errors Node's HTTP parser or Fastify's router raise before a route runs still answer
    // in the error shape.
    clientErrorHandler: answerClientError,
    frameworkErrors: (err, _request, reply) => {
      const mapped = toHttpError(err);
      void (reply as FastifyReply).code(mapped.status).send(mapped.body);
    },
  });
  installBodyDeadline(app, {
    requestTimeoutMs: config.http.requestTimeoutMs,
    uploadMinBytesPerSecond: config.http.uploadMinBytesPerSecond,
  });
  // Every socket counts, WebSockets included: beyond MAX_CONNECTIONS new ones are dropped.
  app.server.maxConnections = config.http.maxConnections;
  // Bodies are JSON: a text/plain body is refused (415) instead of parsed as a string.
  app.removeContentTypeParser('text/plain');
  const { metrics } = ctx;

  // Every route as registered, so a test can hold the server to the contract.
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  app.decorate('registeredRoutes', () => routes);

  // An empty JSON body is no body (POST /logout with a JSON content type); anything else
  // goes through Fastify's own safe parser.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    parseJson(request, body as string, done);
  });

  // One log line and one histogram sample per request. Paths only: query strings may hold
  // search terms, and bodies are never logged.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.httpDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      seconds,
    );
    if (route === '/health' || route === '/metrics') return;
    request.log.info(
      {
        method: request.method,
        path: request.url.split('?')[0],
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  // While shutting down, answer in-flight requests with Connection: close so their
  // keep-alive sockets don't hold the server open after the response.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.setErrorHandler((err, request, reply) => {
    const mapped = toHttpError(err);
    if (mapped.status >= 500) request.log.error({ err, reqId: request.id }, 'request failed');
    if (mapped.headers) reply.headers(mapped.headers);
    return reply.code(mapped.status).send(mapped.body);
  });

  // With S3 the web app PUTs large files straight to the bucket (presigned URLs, no request
  // needed to make one): the page must be allowed to connect to where they point.
  const directUploadUrl = await ctx.objects.presignedPutUrl(sourceKey(randomUUID()), 60);
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        connectSrc: ["'self'", 'ws:', 'wss:', ...(directUploadUrl ? [new URL(directUploadUrl).origin] : [])],
        imgSrc: ["'self'", 'data:', 'blob:'],
        styleSrc: ["'self'", "'unsafe-inline'"],
        // Plain-HTTP deployments on a LAN must still load their own assets.
        upgradeInsecureRequests: null,
      },
    },
    crossOriginEmbedderPolicy: false,
  });
  await app.register(fastifyCors, {
    origin: (origin, cb) => cb(null, !origin ? false : config.corsOrigins.includes(origin)),
    credentials: true,
  });
  await app.register(fastifyCookie);

  // In a child scope: ts-rest installs its own error handler there, which passes anything
  // but its validation errors up to ours.
  const s = initServer();
  await app.register(async (api) => {
    const router = s.router(contract, {
      auth: authRouter(ctx),
      users: usersRouter(ctx),
      chats: chatsRouter(ctx),
      messages: messagesRouter(ctx),
      contacts: contactsRouter(ctx),
      blocks: blocksRouter(ctx),
      admin: adminRouter(ctx),
      search: searchRouter(ctx),
      media: mediaRouter(ctx),
    });
    // Uploads: multipart bodies are streamed part by part (media/routes.ts reads them); the
    // limits here are the outer bounds, the media rules refuse earlier with clearer codes.
    await api.register(fastifyMultipart, {
      limits: {
        fileSize: Math.max(config.media.imageMaxBytes, config.media.fileMaxBytes) + 1,
        files: MAX_ATTACHMENTS,
        fields: 20,
        fieldSize: 8 * 1024,
        parts: MAX_ATTACHMENTS + 20,
        headerPairs: 100,
      },
      throwFileSizeLimit: false,
    });
    // Raw bytes only where the contract takes them (a direct upload's content); anywhere
    // else the type is refused like any other non-JSON body.
    api.addContentTypeParser('application/octet-stream', (request, payload, done) => {
      if (request.routeOptions.url === DIRECT_UPLOAD_ROUTE) done(null, payload);
      else done(new AppError('UNSUPPORTED_MEDIA_TYPE'), undefined);
    });
    s.registerRouter(contract, router, api, {
      responseValidation: true,
      requestValidationErrorHandler: (err, _request, reply) => {
        const details = [
          ...(err.body ? zodIssues(err.body, 'body') : []),
          ...(err.query ? zodIssues(err.query, 'query') : []),
          ...(err.pathParams ? zodIssues(err.pathParams, 'params') : []),
          ...(err.headers ? zodIssues(err.headers, 'headers') : []),
        ];
        return reply.code(400).send(errorBody('VALIDATION_ERROR', 'Some fields are not valid.', details));
      },
    });
  });

  await registerGateway(app, ctx, metrics);
  registerHealthRoutes(app, ctx, metrics);
  await registerSpa(app, config.webDistDir);
  return app;
}
