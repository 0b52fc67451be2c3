/**
 * Prometheus metrics: process metrics plus an HTTP request duration histogram labelled by
 * route pattern (never the raw URL, which would explode cardinality) and status code.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  wsConnections: Gauge;
  wsCommands: Counter<'type' | 'outcome'>;
  wsEventsSent: Counter;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'parley_' });
  const httpDuration = new Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const wsConnections = new Gauge({
    name: 'parley_ws_connections',
    help: 'Open WebSocket connections on this node',
    registers: [registry],
  });
  const wsCommands = new Counter({
    name: 'parley_ws_commands_total',
    help: 'WebSocket commands handled, by type and outcome (ok or the error code)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const wsEventsSent = new Counter({
    name: 'parley_ws_events_sent_total',
    help: 'Event frames written to WebSockets on this node',
    registers: [registry],
  });
  return { registry, httpDuration, wsConnections, wsCommands, wsEventsSent };
}
