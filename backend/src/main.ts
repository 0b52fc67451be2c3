/**
 * `npm start` runs this: read config, migrate, listen, and shut down gracefully on
 * SIGTERM/SIGINT (stop accepting, finish in-flight requests, close the database).
 */
import { ConfigError, loadConfig } from './infra/config.js';
import { startApp } from './start-app.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const running = await startApp(config);
  const { app } = running;
  // A deep accept queue: thousands of clients reconnecting at once wait in it instead of
  // having their SYNs dropped and retried seconds later (the kernel caps it at somaxconn).
  await app.listen({ host: config.host, port: config.port, backlog: config.listenBacklog });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const mode =
    config.database.kind === 'postgres' ? 'PostgreSQL' : `embedded PGlite in ${config.database.dir}`;
  app.log.info({ port, database: config.database.kind, redis: Boolean(config.redisUrl) }, 'listening');
  console.log(`Parley is running at http://localhost:${port} (database: ${mode})`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      app.log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    try {
      await running.close();
      process.exit(0);
    } catch (err) {
      app.log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  console.error('Parley failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
