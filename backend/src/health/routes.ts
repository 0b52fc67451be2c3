/**
 * /health: the process is alive. /health/ready: the database answers, every migration is
 * applied and, with REDIS_URL, Redis answers (a load balancer should route traffic here
 * only then), and the server is not draining for shutdown. /metrics: Prometheus.
 */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.js';
import { pendingMigrations } from '../infra/db/migrate.js';
import { errorBody } from '../infra/errors.js';
import type { Metrics } from '../infra/metrics.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: AppContext, metrics: Metrics): void {
  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/health/ready', async (_request, reply) => {
    const { ok, checks } = await checkReadiness(ctx);
    metrics.readinessChecked(ok);
    if (ok) return { status: 'ready', checks };
    return reply.code(503).send(errorBody('SERVICE_UNAVAILABLE', 'The service is not ready.', checks));
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

/** What /health/ready checks, each with "ok" or what is wrong (also read by /metrics: parley_ready). */
export async function checkReadiness(
  ctx: AppContext,
): Promise<{ ok: boolean; checks: Record<string, string> }> {
  // Draining for shutdown: the load balancer must stop sending new clients here.
  const checks: Record<string, string> = { server: ctx.sockets?.draining ? 'draining' : 'ok' };
  try {
    await ctx.db.withConnection((c) => c.query('SELECT 1'));
    checks.database = 'ok';
    const pending = await pendingMigrations(ctx.db);
    checks.migrations = pending.length === 0 ? 'ok' : `pending: ${pending.join(', ')}`;
  } catch (err) {
    checks.database ??= `unreachable: ${(err as Error).message}`;
    checks.migrations ??= 'unknown';
  }
  if (ctx.redis) checks.redis = await redisCheck(ctx.redis);
  return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
}

/** How long the readiness check waits for Redis (ioredis queues commands while reconnecting). */
const REDIS_CHECK_MS = 1000;

export async function redisCheck(redis: NonNullable<AppContext['redis']>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_CHECK_MS} ms`)), REDIS_CHECK_MS);
    });
    await Promise.race([redis.ping(), timeout]);
    return 'ok';
  } catch (err) {
    return `unreachable: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}
