/**
 * Serves the built web app. Any GET that is not an API, WebSocket, health or asset path
 * gets index.html (history fallback), so deep links like /chats/:id/messages/:id load the
 * app. Unknown /api routes get the JSON error shape instead.
 */
import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, HTTPMethods } from 'fastify';
import FindMyWay from 'find-my-way';
import { errorBody } from '../errors.js';

const NOT_SPA = /^\/(api|ws|health|metrics)(\/|$|\?)/;

const NOT_BUILT_PAGE = `<!doctype html><meta charset="utf-8"><title>Parley</title>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h1>Parley</h1><p>The server is running, but the web app has not been built.
Run <code>npm run build</code> (or <code>npm start</code>, which builds it) and reload.</p>`;

export async function registerSpa(app: FastifyInstance, distDir: string): Promise<void> {
  const built = existsSync(`${distDir}/index.html`);
  if (built) {
    await app.register(fastifyStatic, {
      root: distDir,
      wildcard: false,
      index: false,
      setHeaders(res, filePath) {
        res.setHeader(
          'cache-control',
          filePath.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
  }

  // The routes by path alone (built on first use, when every route is registered), so a
  // known path asked with another method answers 405 with Allow.
  let byPath: FindMyWay.Instance<FindMyWay.HTTPVersion.V1> | undefined;
  const allowedMethods = (path: string): Set<string> | undefined => {
    if (!byPath) {
      const router = FindMyWay({ ignoreTrailingSlash: true });
      const methodsOf = new Map<string, Set<string>>();
      for (const { method, url } of app.registeredRoutes()) {
        if (url.includes('*')) continue;
        let methods = methodsOf.get(url);
        if (!methods) {
          methods = new Set();
          methodsOf.set(url, methods);
          router.on('GET', url, () => undefined, { methods });
        }
        methods.add(method);
      }
      byPath = router;
    }
    const found = byPath.find('GET', path);
    return (found?.store as { methods?: Set<string> } | undefined)?.methods;
  };

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url;
    const allowed = allowedMethods(path.split('?')[0] ?? path);
    if (allowed && !allowed.has(request.method as HTTPMethods)) {
      reply.header('allow', [...allowed].sort().join(', '));
      return reply.code(405).send(errorBody('METHOD_NOT_ALLOWED'));
    }
    const wantsPage = (request.method === 'GET' || request.method === 'HEAD') && !NOT_SPA.test(path);
    if (!wantsPage) {
      return reply.code(404).send(errorBody(path.startsWith('/api') ? 'ROUTE_NOT_FOUND' : 'NOT_FOUND'));
    }
    if (!built) return reply.code(200).type('text/html; charset=utf-8').send(NOT_BUILT_PAGE);
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html');
  });
}
