/**
 * Prometheus metrics (prom-client), served on /metrics. Every label has a bounded set of
 * values: route patterns (never raw URLs), status codes, command and event types from the
 * contract, error codes from the catalogue, statement names or SQL verbs, Redis command
 * names, media kinds. Nothing is labelled by user, chat or message.
 *
 * The delivery path is measured in three pieces that add up: a committed event waits in
 * the outbox until the relay has put it in its recipients' inboxes (`outbox_lag`), then
 * until a socket's frame carrying it is written (`inbox_lag`); commit → written to a
 * socket is `delivery_latency`. The commit time travels with the event (relay →
 * publisher → bus → gateway), so the node holding the socket observes it even when
 * another node committed it (then the nodes' clocks must agree; NTP is enough).
 *
 * specs/operations.md lists every metric with its meaning, and the alerts and dashboard
 * in ops/ that use them.
 */
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What media processing reports its time under (the contract's media kinds). */
export const MEDIA_KINDS = ['image', 'voice', 'video', 'file'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** When an event committed and when it was put in its recipients' inboxes (ms since the epoch). */
export interface EventTiming {
  committedAt: number;
  publishedAt: number;
}

/** What a node's WebSockets report about the frames they write. */
export interface DeliveryObserver {
  /** `count` event frames of this type were handed to a socket. */
  sent(type: string, count: number): void;
  /** A frame carrying a committed event was written to a socket at `writtenAt`. */
  delivered(type: string, timing: EventTiming, writtenAt: number): void;
  /** A socket was told to re-sync (its inbox position was gone). */
  resync(reason: string): void;
}

/** Read when /metrics is scraped. */
export interface MetricSources {
  /** Statements this node sent to the database since start. */
  dbStatements(): number;
  /** Sends waiting for their group commit on this node. */
  sendQueue(): number;
  /** Rows in the outbox table and the age of the oldest, in seconds (whole installation). */
  outbox?(): Promise<{ rows: number; oldestSeconds: number }>;
  /** Whether this node is ready (the checks of /health/ready). */
  readiness?(): Promise<boolean>;
  /** Uploads waiting to be processed (whole installation). */
  mediaPending?(): Promise<number>;
  /** Pictures waiting to be analysed (whole installation). */
  analysisPending?(): Promise<number>;
}

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  wsConnections: Gauge;
  wsCommands: Counter<'type' | 'outcome'>;
  wsEventsSent: Counter;
  sendBatchSize: Histogram;
  sendCommitSeconds: Histogram;
  /** New messages committed (retries answered with the original are not counted). */
  messagesSent: Counter<'chat_kind'>;
  /** Event frames written to WebSockets, by event type. */
  eventsDelivered: Counter<'type'>;
  /** Commit → the frame carrying the event written to a socket, per socket. */
  deliveryLatency: Histogram<'type'>;
  /** Commit → published into the recipients' inboxes, per committed unit. */
  outboxLag: Histogram<'path'>;
  /** Published into an inbox → written to a socket, per socket. */
  inboxLag: Histogram;
  /** Sockets told to re-sync, by reason. */
  inboxResyncs: Counter<'reason'>;
  /** Database statements by hot-path statement name or SQL verb. */
  dbQuery: Histogram<'statement'>;
  /** Redis commands by command name. */
  redisCommand: Histogram<'command'>;
  /** GET /api/search, by type (messages, files or users). */
  search: Histogram<'type'>;
  /**
   * Uploads waiting to be processed, read at scrape time (`watch({ mediaPending })`); a
   * caller may also `set(n)` it.
   */
  mediaQueue: Gauge;
  /** Pictures waiting for media analysis (OCR, labels), read at scrape time. */
  analysisQueue: Gauge;
  /** Seconds the analysis processes were stopped while messages were sent (analyser.ts). */
  analysisPaused: Counter;
  /**
   * Seconds one media processing job took, by kind (image, voice, video, file): the media
   * queue observes it (`metrics.mediaProcessing.observe({ kind }, seconds)`).
   */
  mediaProcessing: Histogram<'kind'>;
  /** What the WebSocket gateway reports through. */
  delivery: DeliveryObserver;
  /** Readiness as just checked: sets parley_ready and counts a change. */
  readinessChecked(ready: boolean): void;
  watch(sources: MetricSources): void;
}

/** Latency buckets from a millisecond to half a minute. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Finer buckets for single statements and commands. */
const QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** Media jobs take from a fraction of a second (a thumbnail) to minutes (a video). */
const MEDIA_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** How long a scrape waits for the outbox and readiness queries (a dead database must not hang it). */
const SCRAPE_QUERY_MS = 2000;

const SQL_VERBS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'begin',
  'commit',
  'rollback',
  'savepoint',
  'release',
  'set',
  'show',
  'create',
  'alter',
  'drop',
  'lock',
]);

/**
 * A statement's label: the hot path's prepared-statement name (a constant in the code), or
 * the SQL verb. Never the text itself.
 */
export function statementLabel(statement: unknown): string {
  if (statement && typeof statement === 'object') {
    const { name, text } = statement as { name?: unknown; text?: unknown };
    if (typeof name === 'string' && /^[a-z0-9-]{1,48}$/.test(name)) return name;
    return statementLabel(text);
  }
  if (typeof statement !== 'string') return 'other';
  const verb = /^\s*([A-Za-z]+)/.exec(statement)?.[1]?.toLowerCase();
  return verb && SQL_VERBS.has(verb) ? verb : 'other';
}

/** Past this many distinct command names, the rest count as `other` (bounded whatever runs). */
const MAX_REDIS_COMMANDS = 48;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createMetrics(opts: { eventTypes?: readonly string[] } = {}): Metrics {
  const registry = new Registry();
  // Process metrics: CPU, memory, heap, GC, handles, and the event loop's lag (mean,
  // percentiles) and utilisation.
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
  const messagesSent = new Counter({
    name: 'parley_messages_sent_total',
    help: 'Messages committed on this node, by chat kind (direct or group); retries answered with the original are not counted',
    labelNames: ['chat_kind'] as const,
    registers: [registry],
  });
  const eventsDelivered = new Counter({
    name: 'parley_events_delivered_total',
    help: 'Event frames written to WebSockets on this node, by event type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const deliveryLatency = new Histogram({
    name: 'parley_delivery_latency_seconds',
    help: 'End-to-end delivery: from the commit of an event to its frame written to a socket, per socket, by event type',
    labelNames: ['type'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const outboxLag = new Histogram({
    name: 'parley_outbox_lag_seconds',
    help: 'From commit to the events being in their recipients inboxes, per committed unit; path "live" (the committing node) or "recovered" (the outbox sweep)',
    labelNames: ['path'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const inboxLag = new Histogram({
    name: 'parley_inbox_lag_seconds',
    help: 'From an event entering a user inbox to its frame written to one of their sockets, per socket',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const inboxResyncs = new Counter({
    name: 'parley_inbox_resyncs_total',
    help: 'Sockets told to re-sync over REST because their inbox position was gone, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const dbQuery = new Histogram({
    name: 'parley_db_query_duration_seconds',
    help: 'Database statements from sending to the answer, by hot-path statement name or SQL verb (PostgreSQL: every statement; PGlite: the hot paths and raw sessions)',
    labelNames: ['statement'] as const,
    buckets: QUERY_BUCKETS,
    registers: [registry],
  });
  const redisCommand = new Histogram({
    name: 'parley_redis_command_duration_seconds',
    help: 'Redis commands from sending to the answer, by command',
    labelNames: ['command'] as const,
    buckets: QUERY_BUCKETS,
    registers: [registry],
  });
  const search = new Histogram({
    name: 'parley_search_duration_seconds',
    help: 'GET /api/search from the query to the page of results, by type (messages or users)',
    labelNames: ['type'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  /** A queue's depth, counted by its source at scrape time (none set: not exported yet). */
  const depthGauge = (name: string, help: string, source: 'mediaPending' | 'analysisPending') =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const pending = sources[source];
        if (!pending) return;
        const n = await withTimeout(pending(), SCRAPE_QUERY_MS).catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    });
  const mediaQueue = depthGauge(
    'parley_media_queue_depth',
    'Uploads waiting to be processed (whole installation, read at scrape time; the same on every node)',
    'mediaPending',
  );
  const analysisQueue = depthGauge(
    'parley_media_analysis_queue_depth',
    'Pictures waiting to be analysed: text and labels (whole installation, read at scrape time)',
    'analysisPending',
  );
  const analysisPaused = new Counter({
    name: 'parley_media_analysis_paused_seconds_total',
    help: 'Time the analysis processes on this node were stopped while messages were being sent',
    registers: [registry],
  });
  const mediaProcessing = new Histogram({
    name: 'parley_media_processing_seconds',
    help: 'Time one media processing job took, by kind (image, voice, video, file)',
    labelNames: ['kind'] as const,
    buckets: MEDIA_BUCKETS,
    registers: [registry],
  });
  // Every kind is exported from the start (at zero), so dashboards and alerts find them.
  for (const kind of MEDIA_KINDS) mediaProcessing.zero({ kind });
  for (const path of ['live', 'recovered']) outboxLag.zero({ path });

  let sources: MetricSources = { dbStatements: () => 0, sendQueue: () => 0 };
  /** Runs `read` at most once a second: the gauges of one scrape share one answer. */
  const perScrape = <T>(read: () => Promise<T>) => {
    let last: { at: number; value: Promise<T> } | undefined;
    return () => {
      const now = Date.now();
      if (!last || now - last.at > 1000) last = { at: now, value: read() };
      return last.value;
    };
  };

  let lastReady: boolean | undefined;
  function readinessChecked(value: boolean) {
    if (lastReady !== undefined && lastReady !== value) readinessChanges.inc();
    lastReady = value;
    ready.set(value ? 1 : 0);
  }
  // Readiness is checked again at each scrape, so it is current even where nothing probes it.
  const checkReadiness = perScrape(async () => {
    const check = sources.readiness;
    if (check) readinessChecked(await withTimeout(check(), SCRAPE_QUERY_MS).catch(() => false));
  });
  const ready = new Gauge({
    name: 'parley_ready',
    help: '1 when this node is ready (the checks of /health/ready pass), else 0; checked at each scrape and each readiness probe',
    registers: [registry],
    async collect() {
      await checkReadiness();
    },
  });
  const readinessChanges = new Counter({
    name: 'parley_readiness_changes_total',
    help: 'Times this node went from ready to not ready or back (flapping readiness), as seen by scrapes and probes',
    registers: [registry],
    async collect() {
      await checkReadiness();
    },
  });

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

  const readOutbox = perScrape(() => {
    const query = sources.outbox;
    return query ? withTimeout(query(), SCRAPE_QUERY_MS).catch(() => null) : Promise.resolve(null);
  });
  new Gauge({
    name: 'parley_outbox_rows',
    help: 'Rows in the outbox table (committed events not yet published and deleted), read at scrape time; the same for every node',
    registers: [registry],
    async collect() {
      const read = await readOutbox();
      if (read) this.set(read.rows);
    },
  });
  new Gauge({
    name: 'parley_outbox_oldest_seconds',
    help: 'Age of the oldest row in the outbox table (0 when empty), read at scrape time',
    registers: [registry],
    async collect() {
      const read = await readOutbox();
      if (read) this.set(read.oldestSeconds);
    },
  });
  // Children are looked up once per label value: the delivery path observes per socket.
  const known = new Set(opts.eventTypes ?? []);
  const typeLabel = (type: string) => (known.size === 0 || known.has(type) ? type : 'other');
  const cache = <C>(make: (label: string) => C) => {
    const children = new Map<string, C>();
    return (label: string) => {
      let child = children.get(label);
      if (!child) {
        child = make(label);
        children.set(label, child);
      }
      return child;
    };
  };
  const deliveredOf = cache((type) => eventsDelivered.labels(typeLabel(type)));
  const latencyOf = cache((type) => deliveryLatency.labels(typeLabel(type)));
  const delivery: DeliveryObserver = {
    sent(type, count) {
      wsEventsSent.inc(count);
      deliveredOf(type).inc(count);
    },
    delivered(type, timing, writtenAt) {
      latencyOf(type).observe(Math.max(0, writtenAt - timing.committedAt) / 1000);
      inboxLag.observe(Math.max(0, writtenAt - timing.publishedAt) / 1000);
    },
    resync(reason) {
      inboxResyncs.inc({ reason });
    },
  };
  for (const reason of ['position_unknown', 'position_trimmed', 'overflow']) inboxResyncs.inc({ reason }, 0);

  return {
    registry,
    httpDuration,
    wsConnections,
    wsCommands,
    wsEventsSent,
    sendBatchSize,
    sendCommitSeconds,
    messagesSent,
    eventsDelivered,
    deliveryLatency,
    outboxLag,
    inboxLag,
    inboxResyncs,
    dbQuery,
    redisCommand,
    search,
    mediaQueue,
    analysisQueue,
    analysisPaused,
    mediaProcessing,
    delivery,
    readinessChecked,
    watch(s) {
      sources = s;
    },
  };
}

/**
 * Times every command `redis` sends, from sending to its answer (pipelined and scripted
 * commands included: they all pass through `sendCommand`).
 */
export function observeRedis(redis: Redis, histogram: Metrics['redisCommand']): void {
  const names = new Set<string>();
  const labelOf = (name: string) => {
    const lower = name.toLowerCase();
    if (names.has(lower)) return lower;
    if (!/^[a-z]{1,24}$/.test(lower) || names.size >= MAX_REDIS_COMMANDS) return 'other';
    names.add(lower);
    return lower;
  };
  type Send = (command: { name: string; promise: Promise<unknown> }, ...rest: unknown[]) => unknown;
  const target = redis as unknown as { sendCommand: Send };
  const send = target.sendCommand.bind(redis) as Send;
  target.sendCommand = (command, ...rest) => {
    const started = performance.now();
    const done = () =>
      histogram.observe({ command: labelOf(command.name) }, (performance.now() - started) / 1000);
    command.promise.then(done, done);
    return send(command, ...rest);
  };
}
