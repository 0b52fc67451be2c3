/**
 * /health: the process is alive. /health/ready: the database answers and every migration
 * is applied (a load balancer should route traffic here only then). /metrics: Prometheus.
 */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.js';
import { pendingMigrations } from '../infra/db/migrate.js';
import { errorBody } from '../infra/errors.js';
import type { Metrics } from '../infra/metrics.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: AppContext, metrics: Metrics): void {
  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/health/ready', async (_request, reply) => {
    const checks: Record<string, string> = {};
    try {
      await ctx.db.withConnection((c) => c.query('SELECT 1'));
      checks.database = 'ok';
      const pending = await pendingMigrations(ctx.db);
      checks.migrations = pending.length === 0 ? 'ok' : `pending: ${pending.join(', ')}`;
    } catch (err) {
      checks.database ??= `unreachable: ${(err as Error).message}`;
      checks.migrations ??= 'unknown';
    }
    if (checks.database === 'ok' && checks.migrations === 'ok') return { status: 'ready', checks };
    return reply.code(503).send(errorBody('SERVICE_UNAVAILABLE', 'The service is not ready.', checks));
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
