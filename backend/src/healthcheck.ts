/**
 * The container's HEALTHCHECK (Dockerfile): exits 0 when this node's GET /health answers
 * 200 within three seconds, else 1. Liveness only: readiness (database, Redis) is the
 * orchestrator's /health/ready probe, and a node waiting for its database must not be
 * restarted for it.
 */
import { ConfigError, loadConfig } from './infra/config.js';

const TIMEOUT_MS = 3000;

try {
  const config = loadConfig();
  // A server listening on every address answers on loopback.
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}/health`;
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  process.exitCode = res.status === 200 ? 0 : 1;
  if (res.status !== 200) console.error(`${url} answered ${res.status}`);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `health check failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
