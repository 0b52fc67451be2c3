/**
 * All configuration, read and validated once from the environment. Nothing else in the
 * backend reads process.env. Every variable is documented in the README's table.
 */
import path from 'node:path';
import { z } from 'zod';

export const DEV_JWT_SECRET = 'parley-dev-secret-change-me-in-production-0000';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const emptyAsUndefined = (v: unknown) => (v === '' ? undefined : v);

export interface SendPipelineSettings {
  /** Sends per group commit at most. */
  maxBatch: number;
  /** Batches in the database at once (chats never overlap between them). */
  concurrency: number;
  /** Sends that may wait; beyond, a 503. */
  maxQueued: number;
  /** How long a send may wait (a database outage) before it is refused with a 503. */
  queueTimeoutMs: number;
  /**
   * Under load a batch waits for company: from `lingerMinRate` sends/s on this node, the
   * first send of a batch waits about two arrivals' worth (2/rate), at most `lingerMaxMs`.
   * Below that rate (and with 0) nothing waits: an idle server adds no latency.
   */
  lingerMaxMs: number;
  lingerMinRate: number;
}

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('0.0.0.0'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    LISTEN_BACKLOG: z.coerce.number().int().min(1).max(65_535).default(4096),
    DATA_DIR: z.string().min(1).default('./data'),
    DATABASE_URL: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
        .optional(),
    ),
    REDIS_URL: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// URL')
        .optional(),
    ),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, ":", "_" or "-", at most 64')
      .default('parley'),
    REDIS_PRESENCE_TTL_MS: z.coerce.number().int().min(300).max(300_000).default(15_000),
    REDIS_INBOX_TTL_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(604_800),
    JWT_SECRET: z.string().min(1).default(DEV_JWT_SECRET),
    JWT_ISSUER: z.string().min(1).default('parley'),
    JWT_AUDIENCE: z.string().min(1).default('parley-api'),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
    REFRESH_TOKEN_TTL_DAYS: z.coerce.number().min(0.001).max(90).default(7),
    SESSION_MAX_AGE_DAYS: z.coerce.number().min(0.001).max(365).default(30),
    COOKIE_SECURE: bool.default('true'),
    CORS_ORIGINS: csv.default(''),
    TRUST_PROXY: bool.default('false'),
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(50 * 1024 * 1024)
      .default(1_048_576),
    LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).max(1000).default(5),
    LOGIN_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
    LOGIN_ADDRESS_MAX_FAILURES: z.coerce.number().int().min(1).max(1_000_000).default(30),
    REGISTER_ADDRESS_MAX: z.coerce.number().int().min(1).max(1_000_000).default(10),
    REGISTER_ADDRESS_WINDOW_SECONDS: z.coerce.number().int().min(1).max(604_800).default(3600),
    REGISTRATION: z.enum(['open', 'invite', 'closed']).default('open'),
    ADDRESS_LIMITS_LOOPBACK: z.enum(['exempt', 'limit']).default('exempt'),
    PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    PASSWORD_HASH_QUEUE_MAX: z.coerce.number().int().min(0).max(100_000).default(64),
    PASSWORD_HASH_WAIT_MS: z.coerce.number().int().min(0).max(120_000).default(5_000),
    REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().min(0).max(300).default(10),
    HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
    HTTP_UPLOAD_MIN_BYTES_PER_SECOND: z.coerce.number().int().min(1_024).max(1_073_741_824).default(32_768),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(65_000),
    HTTP_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
    MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
    USER_COMMAND_RATE_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(10),
    USER_COMMAND_BURST: z.coerce.number().int().min(0).max(1_000_000).default(60),
    USER_COMMANDS_IN_FLIGHT: z.preprocess(
      emptyAsUndefined,
      z.coerce.number().int().min(1).max(10_000).optional(),
    ),
    USER_COMMAND_TOTAL_RATE_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(20),
    USER_COMMAND_TOTAL_BURST: z.coerce.number().int().min(0).max(1_000_000).default(60),
    USER_CONNECT_RATE_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(1),
    USER_CONNECT_BURST: z.coerce.number().int().min(0).max(1_000_000).default(30),
    USER_READ_RATE_PER_SECOND: z.coerce.number().int().min(1).max(100_000).default(50),
    USER_READ_BURST: z.coerce.number().int().min(0).max(1_000_000).default(600),
    WS_FRAME_RATE_PER_SECOND: z.preprocess(
      emptyAsUndefined,
      z.coerce.number().int().min(1).max(1_000_000).optional(),
    ),
    WS_FRAME_BURST: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(1_000_000).optional()),
    WS_USER_FRAME_RATE_PER_SECOND: z.preprocess(
      emptyAsUndefined,
      z.coerce.number().int().min(1).max(1_000_000).optional(),
    ),
    WS_USER_FRAME_BURST: z.preprocess(
      emptyAsUndefined,
      z.coerce.number().int().min(1).max(1_000_000).optional(),
    ),
    WS_MAX_SOCKETS_PER_USER: z.coerce.number().int().min(1).max(1_000_000).default(20),
    WS_MAX_SOCKETS_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(2_000),
    WS_CONNECT_RATE_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(20),
    WS_CONNECT_BURST_PER_ADDRESS: z.coerce.number().int().min(0).max(10_000_000).default(600),
    SEND_RATE_PER_SECOND: z.coerce.number().int().min(1).max(10_000).default(5),
    SEND_BURST: z.coerce.number().int().min(0).max(100_000).default(120),
    INBOX_SIZE: z.coerce.number().int().min(10).max(1_000_000).default(2000),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
    DATABASE_ACQUIRE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    SEND_BATCH_MAX: z.coerce.number().int().min(1).max(5_000).default(500),
    SEND_BATCH_CONCURRENCY: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(64).optional()),
    SEND_QUEUE_MAX: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
    SEND_QUEUE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
    SEND_LINGER_MAX_MS: z.coerce.number().min(0).max(100).default(5),
    SEND_LINGER_MIN_RATE: z.coerce.number().min(1).max(1_000_000).default(200),
    OUTBOX_SWEEP_MS: z.coerce.number().int().min(10).max(600_000).default(1_000),
    OUTBOX_STALE_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
    RECEIPT_FLUSH_MS: z.coerce.number().int().min(1).max(3_600_000).default(100),
    CHAT_CACHE_TTL_MS: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
    WS_HEARTBEAT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    WS_AUTH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
    DIRECT_CHAT_POLICY: z.enum(['open', 'requests']).default('requests'),
    EXPIRY_SWEEP_MS: z.coerce.number().int().min(100).max(3_600_000).default(1_000),
    SEARCH_INDEX_MS: z.coerce.number().int().min(10).max(3_600_000).default(250),
    SEARCH_INDEX_BATCH: z.coerce.number().int().min(1).max(10_000).optional(),
    SEARCH_WORDS_MS: z.coerce.number().int().min(100).max(86_400_000).default(30_000),
    SEARCH_WORDS_LAG_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
    TYPING_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(6_000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(15_000),
    SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
    WEB_DIST_DIR: z.string().min(1).optional(),
    // Media (media/ and infra/object-store.ts, infra/virus-scanner.ts).
    S3_ENDPOINT: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^https?:\/\/[^/]+\/?$/, 'must be http(s)://host[:port]')
        .optional(),
    ),
    S3_PUBLIC_URL: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^https?:\/\/[^/]+\/?$/, 'must be http(s)://host[:port]')
        .optional(),
    ),
    S3_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid bucket name (3–63 of a-z, 0-9, ".", "-")')
      .default('parley-media'),
    S3_ACCESS_KEY: z.preprocess(emptyAsUndefined, z.string().min(1).max(256).optional()),
    S3_SECRET_KEY: z.preprocess(emptyAsUndefined, z.string().min(1).max(256).optional()),
    S3_REGION: z.string().min(1).max(64).default('us-east-1'),
    S3_PATH_STYLE: bool.default('true'),
    MEDIA_IMAGE_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(1_073_741_824)
      .default(10 * 1024 * 1024),
    MEDIA_FILE_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(10_737_418_240)
      .default(50 * 1024 * 1024),
    MEDIA_MAX_PIXELS: z.coerce.number().int().min(1).max(1_000_000_000).default(64_000_000),
    MEDIA_QUOTA_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .default(5 * 1024 ** 3),
    MEDIA_WORKERS: z.coerce.number().int().min(1).max(64).default(1),
    MEDIA_UNATTACHED_TTL_HOURS: z.coerce.number().min(0.001).max(8760).default(24),
    MEDIA_URL_TTL_SECONDS: z.coerce.number().int().min(10).max(604_800).default(3600),
    MEDIA_SWEEP_MS: z.coerce.number().int().min(100).max(86_400_000).default(60_000),
    // Text (OCR) and object labels read from pictures, for search (media/analysis/).
    MEDIA_ANALYSIS: z.enum(['on', 'off']).default('on'),
    MEDIA_ANALYSIS_WORKERS: z.coerce.number().int().min(1).max(16).default(1),
    MEDIA_ANALYSIS_LABEL_MIN_SCORE: z.coerce.number().min(0).max(1).default(0.3),
    MEDIA_ANALYSIS_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(120_000),
    MEDIA_ANALYSIS_NICE: z.coerce.number().int().min(0).max(19).default(19),
    FFMPEG_PATH: z.string().min(1).default('ffmpeg'),
    FFPROBE_PATH: z.string().min(1).default('ffprobe'),
    CLAMAV_HOST: z.preprocess(emptyAsUndefined, z.string().min(1).max(255).optional()),
    CLAMAV_PORT: z.coerce.number().int().min(1).max(65535).default(3310),
    CLAMAV_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    CLAMAV_UNREACHABLE: z.enum(['refuse', 'accept']).default('refuse'),
  })
  .superRefine((env, ctx) => {
    if (env.SHUTDOWN_DRAIN_MS >= env.SHUTDOWN_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['SHUTDOWN_DRAIN_MS'],
        message: 'must be shorter than SHUTDOWN_TIMEOUT_MS (the drain is part of the shutdown)',
      });
    }
    if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HTTP_HEADERS_TIMEOUT_MS'],
        message: 'must not be longer than HTTP_REQUEST_TIMEOUT_MS (headers are part of the request)',
      });
    }
    if (env.S3_ENDPOINT && (!env.S3_ACCESS_KEY || !env.S3_SECRET_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: ['S3_ACCESS_KEY'],
        message: 'S3_ACCESS_KEY and S3_SECRET_KEY are required with S3_ENDPOINT',
      });
    }
    if (env.NODE_ENV === 'production') {
      if (env.JWT_SECRET === DEV_JWT_SECRET) {
        ctx.addIssue({
          code: 'custom',
          path: ['JWT_SECRET'],
          message: 'is the development default; set a random secret of at least 32 characters',
        });
      } else if (env.JWT_SECRET.length < 32) {
        ctx.addIssue({
          code: 'custom',
          path: ['JWT_SECRET'],
          message: 'is too short for production; use at least 32 characters',
        });
      }
    }
  });

export type Env = z.input<typeof envSchema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  dataDir: string;
  database: { kind: 'pglite'; dir: string } | { kind: 'postgres'; url: string };
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  redisPresenceTtlMs: number;
  /**
   * A user's Redis inbox is deleted this long after its last event (devices away longer
   * re-sync over REST), so Redis holds the inboxes of recently active users only.
   */
  redisInboxTtlSeconds: number;
  mediaDir: string;
  media: MediaSettings;
  /** clamd to scan every upload with (INSTREAM); undefined: uploads are not scanned. */
  clamav: ClamavSettings | undefined;
  webDistDir: string;
  jwt: { secret: Uint8Array; issuer: string; audience: string; accessTtlSeconds: number };
  refreshTokenTtlMs: number;
  sessionMaxAgeMs: number;
  cookieSecure: boolean;
  corsOrigins: string[];
  trustProxy: boolean;
  bodyLimitBytes: number;
  /**
   * Failed sign-ins: `maxFailures` per account and address, `addressMaxFailures` per address
   * across accounts (password spraying), both within `windowSeconds`.
   */
  login: { maxFailures: number; windowSeconds: number; addressMaxFailures: number };
  /** Registration attempts per address within a window, and who may register. */
  registration: { policy: 'open' | 'invite' | 'closed'; perAddress: number; windowSeconds: number };
  /** argon2 work at once, how many may wait for a turn, and how long, before a retryable 503. */
  passwordHashing: { concurrency: number; queueMax: number; waitMs: number };
  /** A rotated refresh token shown again within this long gets the same successor (two tabs). */
  refreshReuseGraceMs: number;
  /** Node's HTTP server limits: slow clients are cut off, connections are capped. */
  http: {
    requestTimeoutMs: number;
    /** An announced upload gets this much longer per byte (specs/uploads.md). */
    uploadMinBytesPerSecond: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    idleTimeoutMs: number;
    maxConnections: number;
  };
  /** Per-user message sends: a steady rate per second, plus a burst allowance per minute. */
  sendRate: { perSecond: number; burstPerMinute: number };
  /**
   * Per user, on each node: every other WebSocket command type and every REST write route
   * (`commands`, each type its own allowance), and REST reads (`reads`, all together).
   */
  budgets: {
    commands: { perSecond: number; burstPerMinute: number };
    reads: { perSecond: number; burstPerMinute: number };
    /** Sockets a user may open (authenticate). */
    connects: { perSecond: number; burstPerMinute: number };
    /** Every command type and write route of a user together. */
    total: { perSecond: number; burstPerMinute: number };
  };
  /**
   * Whether the per-address limits (sign-ups, failed sign-ins across accounts, sockets)
   * count loopback clients: `exempt` (default) leaves them out — a load generator on the
   * host, or a reverse proxy on it without TRUST_PROXY, which would make every user one
   * address — while per-account limits still apply.
   */
  addressLimitsExemptLoopback: boolean;
  /** Frames per socket, and per user over all their sockets on a node (token buckets). */
  wsFrames: { perSecond: number; burst: number; userPerSecond: number; userBurst: number };
  /** A user's WebSocket commands running at once on a node (the rest wait their turn). */
  userCommandsInFlight: number;
  /** WebSockets at once on each node: per signed-in user, per client address. */
  wsMaxSockets: { perUser: number; perAddress: number };
  /**
   * WebSocket upgrades one client address may ask this node for: a steady rate and a burst
   * per minute on top (an office behind one address reconnecting after a restart). Counted
   * before the handshake, so a client that reconnects at once whenever it is refused or
   * closed costs an HTTP answer, not a socket, an auth and a closing handshake each time.
   */
  wsConnectsPerAddress: { perSecond: number; burstPerMinute: number };
  /** Events kept per user for resume (embedded inbox). */
  inboxSize: number;
  /** PostgreSQL pool size, and how long work may wait for a connection before a 503. */
  dbPool: { size: number; acquireTimeoutMs: number };
  /** The send pipeline's settings (messages/send-pipeline.ts takes them as they are). */
  sendPipeline: SendPipelineSettings;
  /** The outbox relay: how often it looks for left-behind rows, and when a row counts as left behind. */
  outbox: { sweepMs: number; staleMs: number };
  /** Delivery receipts are coalesced for this long. */
  receiptFlushMs: number;
  /** Cached chat membership and names expire after this long (invalidation keeps them right meanwhile). */
  chatCacheTtlMs: number;
  wsHeartbeatMs: number;
  wsAuthTimeoutMs: number;
  listenBacklog: number;
  /** A typing state ends by itself after this long without a new typing:start. */
  typingTimeoutMs: number;
  /** open: anyone may message anyone; requests: non-contacts start with a chat request. */
  directChatPolicy: 'open' | 'requests';
  /** How often sent messages are moved into the search index, and how many per statement (search/search-index.ts). */
  searchIndex: { intervalMs: number; batch: number };
  /** The search word list's runs (search/word-list.ts): how often, and how far behind now. */
  searchWords: { intervalMs: number; lagMs: number };
  /** How often disappearing messages are swept. */
  expirySweepMs: number;
  logLevel: string;
  /** SIGTERM to exit at most; past it the process exits with code 1. */
  shutdownTimeoutMs: number;
  /**
   * On shutdown, readiness goes 503 and new sockets are refused at once; open sockets are
   * closed (1001, reconnect) spread over this long so they reconnect to other nodes a few
   * at a time instead of all in one storm.
   */
  shutdownDrainMs: number;
}

export type ObjectStoreSettings =
  | { kind: 'local'; dir: string }
  | {
      kind: 's3';
      endPoint: string;
      port: number;
      useSSL: boolean;
      /** Where browsers reach the bucket for direct uploads (S3_PUBLIC_URL), when not the endpoint. */
      publicEndpoint: { endPoint: string; port: number; useSSL: boolean } | null;
      bucket: string;
      accessKey: string;
      secretKey: string;
      region: string;
      pathStyle: boolean;
    };

export interface MediaSettings {
  /** Files under DATA_DIR/media, or an S3-compatible bucket (S3_ENDPOINT). */
  storage: ObjectStoreSettings;
  /** Largest image upload (JPEG, PNG, GIF, WebP). */
  imageMaxBytes: number;
  /** Largest voice, video or document upload. */
  fileMaxBytes: number;
  /** Images with more pixels than this are refused before they are decoded (decompression bombs). */
  maxPixels: number;
  /** Bytes one user may keep stored (uploads not deleted). */
  quotaBytes: number;
  /** Media processing jobs at once on a node. */
  workers: number;
  /** Uploads never attached to a message are deleted after this long. */
  unattachedTtlMs: number;
  /** Signed download URLs are valid this long. */
  urlTtlSeconds: number;
  /** How often the sweep deletes the files of deleted, expired and never-attached uploads. */
  sweepMs: number;
  ffmpegPath: string;
  ffprobePath: string;
  /** Text (OCR) and objects read from pictures for search (specs/media-analysis.md). */
  analysis: {
    /** MEDIA_ANALYSIS=on: pictures are queued for analysis when they become ready. */
    enabled: boolean;
    /** Analysis threads (and jobs at once) on a node; each holds the models. */
    workers: number;
    /** Objects seen with less confidence than this (0–1) are not stored. */
    labelMinScore: number;
    /** A picture not read within this long of running time fails its try (the process is restarted). */
    timeoutMs: number;
    /** The analysis processes' CPU priority (nice): 19, the lowest, unless the machine is never idle. */
    nice: number;
  };
}

export interface ClamavSettings {
  host: string;
  port: number;
  timeoutMs: number;
  /** clamd unreachable: refuse the upload (retryable 503, the default) or accept it unscanned. */
  onUnreachable: 'refuse' | 'accept';
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const DAY_MS = 86_400_000;

/** Parses the environment. Throws ConfigError naming each bad variable. */
/** http(s)://host[:port] → the minio client's endpoint settings. */
function s3Endpoint(value: string): { endPoint: string; port: number; useSSL: boolean } {
  const url = new URL(value);
  const useSSL = url.protocol === 'https:';
  return { endPoint: url.hostname, port: url.port ? Number(url.port) : useSSL ? 443 : 80, useSSL };
}

export function loadConfig(
  source: Record<string, string | undefined> = process.env,
  repoRoot = process.cwd(),
): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'} ${i.message}`),
    );
  }
  const e = parsed.data;
  const dataDir = path.resolve(repoRoot, e.DATA_DIR);
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    dataDir,
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL }
      : { kind: 'pglite', dir: path.join(dataDir, 'db') },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    redisPresenceTtlMs: e.REDIS_PRESENCE_TTL_MS,
    redisInboxTtlSeconds: e.REDIS_INBOX_TTL_SECONDS,
    mediaDir: path.join(dataDir, 'media'),
    media: {
      storage: e.S3_ENDPOINT
        ? {
            kind: 's3' as const,
            ...s3Endpoint(e.S3_ENDPOINT),
            publicEndpoint: e.S3_PUBLIC_URL ? s3Endpoint(e.S3_PUBLIC_URL) : null,
            bucket: e.S3_BUCKET,
            accessKey: e.S3_ACCESS_KEY!,
            secretKey: e.S3_SECRET_KEY!,
            region: e.S3_REGION,
            pathStyle: e.S3_PATH_STYLE,
          }
        : { kind: 'local' as const, dir: path.join(dataDir, 'media') },
      imageMaxBytes: e.MEDIA_IMAGE_MAX_BYTES,
      fileMaxBytes: e.MEDIA_FILE_MAX_BYTES,
      maxPixels: e.MEDIA_MAX_PIXELS,
      quotaBytes: e.MEDIA_QUOTA_BYTES,
      workers: e.MEDIA_WORKERS,
      unattachedTtlMs: e.MEDIA_UNATTACHED_TTL_HOURS * 3_600_000,
      urlTtlSeconds: e.MEDIA_URL_TTL_SECONDS,
      sweepMs: e.MEDIA_SWEEP_MS,
      analysis: {
        enabled: e.MEDIA_ANALYSIS === 'on',
        workers: e.MEDIA_ANALYSIS_WORKERS,
        labelMinScore: e.MEDIA_ANALYSIS_LABEL_MIN_SCORE,
        timeoutMs: e.MEDIA_ANALYSIS_TIMEOUT_MS,
        nice: e.MEDIA_ANALYSIS_NICE,
      },
      ffmpegPath: e.FFMPEG_PATH,
      ffprobePath: e.FFPROBE_PATH,
    },
    clamav: e.CLAMAV_HOST
      ? {
          host: e.CLAMAV_HOST,
          port: e.CLAMAV_PORT,
          timeoutMs: e.CLAMAV_TIMEOUT_MS,
          onUnreachable: e.CLAMAV_UNREACHABLE,
        }
      : undefined,
    webDistDir: path.resolve(repoRoot, e.WEB_DIST_DIR ?? 'frontend/dist'),
    jwt: {
      secret: new TextEncoder().encode(e.JWT_SECRET),
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
    },
    refreshTokenTtlMs: e.REFRESH_TOKEN_TTL_DAYS * DAY_MS,
    sessionMaxAgeMs: e.SESSION_MAX_AGE_DAYS * DAY_MS,
    cookieSecure: e.COOKIE_SECURE,
    corsOrigins: e.CORS_ORIGINS,
    trustProxy: e.TRUST_PROXY,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    login: {
      maxFailures: e.LOGIN_MAX_FAILURES,
      windowSeconds: e.LOGIN_WINDOW_SECONDS,
      addressMaxFailures: e.LOGIN_ADDRESS_MAX_FAILURES,
    },
    registration: {
      policy: e.REGISTRATION,
      perAddress: e.REGISTER_ADDRESS_MAX,
      windowSeconds: e.REGISTER_ADDRESS_WINDOW_SECONDS,
    },
    passwordHashing: {
      concurrency: e.PASSWORD_HASH_CONCURRENCY,
      queueMax: e.PASSWORD_HASH_QUEUE_MAX,
      waitMs: e.PASSWORD_HASH_WAIT_MS,
    },
    refreshReuseGraceMs: e.REFRESH_REUSE_GRACE_SECONDS * 1000,
    http: {
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      uploadMinBytesPerSecond: e.HTTP_UPLOAD_MIN_BYTES_PER_SECOND,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      idleTimeoutMs: e.HTTP_IDLE_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
    },
    sendRate: { perSecond: e.SEND_RATE_PER_SECOND, burstPerMinute: e.SEND_BURST },
    budgets: {
      commands: { perSecond: e.USER_COMMAND_RATE_PER_SECOND, burstPerMinute: e.USER_COMMAND_BURST },
      reads: { perSecond: e.USER_READ_RATE_PER_SECOND, burstPerMinute: e.USER_READ_BURST },
      connects: { perSecond: e.USER_CONNECT_RATE_PER_SECOND, burstPerMinute: e.USER_CONNECT_BURST },
      total: { perSecond: e.USER_COMMAND_TOTAL_RATE_PER_SECOND, burstPerMinute: e.USER_COMMAND_TOTAL_BURST },
    },
    addressLimitsExemptLoopback: e.ADDRESS_LIMITS_LOOPBACK === 'exempt',
    wsFrames: (() => {
      // By default a socket may send twice what its user's allowances let through (sends
      // plus all other commands), at least 100 a second: raising the send limit for a
      // bot or a load test raises this with it.
      const perSecond =
        e.WS_FRAME_RATE_PER_SECOND ??
        Math.max(100, 2 * (e.SEND_RATE_PER_SECOND + e.USER_COMMAND_TOTAL_RATE_PER_SECOND));
      const burst = e.WS_FRAME_BURST ?? 2 * perSecond;
      // All of a user's sockets on the node together: twice one socket's rate (a user's
      // devices each ack a few times a second), but one socket's burst, so that opening more
      // sockets buys no bigger burst of work for the node.
      return {
        perSecond,
        burst,
        userPerSecond: e.WS_USER_FRAME_RATE_PER_SECOND ?? 2 * perSecond,
        userBurst: e.WS_USER_FRAME_BURST ?? burst,
      };
    })(),
    wsMaxSockets: { perUser: e.WS_MAX_SOCKETS_PER_USER, perAddress: e.WS_MAX_SOCKETS_PER_ADDRESS },
    wsConnectsPerAddress: {
      perSecond: e.WS_CONNECT_RATE_PER_ADDRESS,
      burstPerMinute: e.WS_CONNECT_BURST_PER_ADDRESS,
    },
    // On PGlite every command's statements take turns on one connection in this thread:
    // more than one of a user's at once only puts them ahead of everyone else's.
    userCommandsInFlight: e.USER_COMMANDS_IN_FLIGHT ?? (e.DATABASE_URL ? 4 : 1),
    inboxSize: e.INBOX_SIZE,
    dbPool: { size: e.DATABASE_POOL_SIZE, acquireTimeoutMs: e.DATABASE_ACQUIRE_TIMEOUT_MS },
    sendPipeline: {
      maxBatch: e.SEND_BATCH_MAX,
      // PGlite is one connection in this process: a second batch at once would only wait.
      concurrency: e.SEND_BATCH_CONCURRENCY ?? (e.DATABASE_URL ? 4 : 1),
      maxQueued: e.SEND_QUEUE_MAX,
      queueTimeoutMs: e.SEND_QUEUE_TIMEOUT_MS,
      lingerMaxMs: e.SEND_LINGER_MAX_MS,
      lingerMinRate: e.SEND_LINGER_MIN_RATE,
    },
    outbox: { sweepMs: e.OUTBOX_SWEEP_MS, staleMs: e.OUTBOX_STALE_MS },
    receiptFlushMs: e.RECEIPT_FLUSH_MS,
    chatCacheTtlMs: e.CHAT_CACHE_TTL_MS,
    wsHeartbeatMs: e.WS_HEARTBEAT_MS,
    wsAuthTimeoutMs: e.WS_AUTH_TIMEOUT_MS,
    listenBacklog: e.LISTEN_BACKLOG,
    typingTimeoutMs: e.TYPING_TIMEOUT_MS,
    expirySweepMs: e.EXPIRY_SWEEP_MS,
    // PGlite runs each statement on the server's own thread (about half a millisecond per
    // message indexed): small batches keep each pause short, sends are served between them.
    searchIndex: {
      intervalMs: e.SEARCH_INDEX_MS,
      batch: e.SEARCH_INDEX_BATCH ?? (e.DATABASE_URL ? 1_000 : 50),
    },
    searchWords: { intervalMs: e.SEARCH_WORDS_MS, lagMs: e.SEARCH_WORDS_LAG_MS },
    directChatPolicy: e.DIRECT_CHAT_POLICY,
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
  };
}
