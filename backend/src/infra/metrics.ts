/**
 * Prometheus metrics: process metrics, an HTTP request duration histogram labelled by
 * route pattern (never the raw URL, which would explode cardinality) and status code,
 * WebSocket traffic, and the delivery pipeline (group-commit batch sizes, queue length,
 * statements sent to the database).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  wsConnections: Gauge;
  wsCommands: Counter<'type' | 'outcome'>;
  wsEventsSent: Counter;
  sendBatchSize: Histogram;
  sendCommitSeconds: Histogram;
  /** Sources read when /metrics is scraped. */
  watch(sources: { dbStatements(): number; sendQueue(): number }): void;
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
  const sendBatchSize = new Histogram({
    name: 'parley_send_batch_size',
    help: 'Sends committed together by one group-commit statement',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [registry],
  });
  const sendCommitSeconds = new Histogram({
    name: 'parley_send_commit_seconds',
    help: 'Time of one group-commit statement, from sending it to its answer',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  let sources = { dbStatements: () => 0, sendQueue: () => 0 };
  new Counter({
    name: 'parley_db_statements_total',
    help: 'Statements this node sent to the database (PostgreSQL: all of them; PGlite: the hot paths)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.dbStatements());
    },
  });
  new Gauge({
    name: 'parley_send_queue',
    help: 'Sends waiting for their group commit on this node',
    registers: [registry],
    collect() {
      this.set(sources.sendQueue());
    },
  });
  return {
    registry,
    httpDuration,
    wsConnections,
    wsCommands,
    wsEventsSent,
    sendBatchSize,
    sendCommitSeconds,
    watch(s) {
      sources = s;
    },
  };
}
