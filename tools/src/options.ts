/**
 * Command-line options of parley-load: one table drives parsing, validation, defaults and
 * --help, so the three never drift apart. Every number has a bound, so no option can make
 * a loop unbounded in count or time.
 */
import { parseArgs } from 'node:util';

export interface LoadOptions {
  /** The first of `urls`: where the REST preparation goes. */
  url: string;
  /** Every server (node) to connect devices to, in the order given; at least one. */
  urls: string[];
  users: number;
  devices: number;
  rate: number;
  /** Seconds of the steady phase; 0 skips it (the default with --ramp). */
  duration: number;
  rampUp: number;
  spikeRate: number;
  spikeDuration: number;
  groupSize: number;
  directShare: number;
  messageSize: number;
  drain: number;
  /** Seconds of holding still (connected, nothing sent) after connecting and after each phase. */
  idleGap: number;
  maxAvgMs: number | undefined;
  maxP95Ms: number | undefined;
  maxP99Ms: number | undefined;
  /** A fraction, 0..1. */
  minDelivery: number | undefined;
  ramp: boolean;
  rampP99Ms: number;
  rampStart: number;
  rampFactor: number;
  rampSteps: number;
  rampStepDuration: number;
  rampMaxRate: number;
  rampRefine: number;
  out: string | undefined;
  html: string | undefined;
  registerConcurrency: number;
  connectConcurrency: number;
  seed: number;
  allowRemote: boolean;
  serverMetrics: boolean;
  quiet: boolean;
  /** Reconnect dropped devices, resume, re-sync and fill gaps over REST, retry unacked sends (--no-reconnect: off). */
  reconnect: boolean;
  /** Most writes of one message (the first included) before it is given up. */
  maxSendTries: number;
  /** Seconds from a message's scheduled time after which it is no longer sent again. */
  sendTimeout: number;
  /** The final check over REST: every device, one device per user, or none. */
  verify: VerifyMode;
  /** Most (acked message, member device) deliveries that may be missing at the end. */
  maxMissing: number | undefined;
}

export type VerifyMode = 'devices' | 'users' | 'off';
export const VERIFY_MODES: readonly VerifyMode[] = ['devices', 'users', 'off'];

type Kind = 'int' | 'number' | 'string' | 'boolean' | 'negated' | 'fraction' | 'urls' | 'verify';

interface Spec {
  key: keyof LoadOptions;
  kind: Kind;
  help: string;
  /** Shown in --help; undefined = no default (off). */
  def?: string | number | boolean;
  min?: number;
  max?: number;
  metavar?: string;
}

const DEFAULT_URL = 'http://127.0.0.1:3000';
/** Most --url values: one cluster's nodes, not a list of every server around. */
export const MAX_URLS = 64;

/** The flag is the key in kebab case: rampUp → --ramp-up. */
const specs: Spec[] = [
  {
    key: 'url',
    kind: 'urls',
    def: DEFAULT_URL,
    metavar: 'URL',
    help: 'server to test; repeat it (or separate with commas) for several nodes of one cluster',
  },
  { key: 'users', kind: 'int', def: 100, min: 2, max: 20_000, help: 'users to create and connect' },
  { key: 'devices', kind: 'int', def: 1, min: 1, max: 10, help: 'WebSocket connections per user' },
  { key: 'rate', kind: 'number', def: 10, min: 0.1, max: 10_000, help: 'target send rate, messages/s' },
  {
    key: 'duration',
    kind: 'number',
    def: 30,
    min: 0,
    max: 3600,
    help: 'seconds of sending at --rate (0 with --ramp unless given)',
  },
  {
    key: 'rampUp',
    kind: 'number',
    def: 0,
    min: 0,
    max: 600,
    help: 'seconds over which the rate rises from 0 to --rate (part of --duration)',
  },
  {
    key: 'spikeRate',
    kind: 'number',
    def: 0,
    min: 0,
    max: 10_000,
    help: 'after the steady phase, a spike at this rate (0 = none)',
  },
  { key: 'spikeDuration', kind: 'number', def: 10, min: 1, max: 600, help: 'seconds of the spike' },
  {
    key: 'groupSize',
    kind: 'int',
    def: 10,
    min: 2,
    max: 300,
    help: 'members per group chat (every user is in one group)',
  },
  {
    key: 'directShare',
    kind: 'number',
    def: 0.3,
    min: 0,
    max: 1,
    help: 'share of messages sent to direct chats (the rest go to groups)',
  },
  {
    key: 'messageSize',
    kind: 'int',
    def: 100,
    min: 24,
    max: 10_000,
    help: 'characters per message body',
  },
  {
    key: 'drain',
    kind: 'number',
    def: 10,
    min: 1,
    max: 120,
    help: 'seconds to wait for late acks and deliveries after the last send',
  },
  {
    key: 'idleGap',
    kind: 'number',
    def: 0,
    min: 0,
    max: 120,
    help: 'seconds to hold still (connected, sending nothing) after connecting and after each fixed phase',
  },
  {
    key: 'maxAvgMs',
    kind: 'number',
    min: 0,
    max: 3_600_000,
    metavar: 'MS',
    help: 'fail if a phase has avg delivery latency above this',
  },
  {
    key: 'maxP95Ms',
    kind: 'number',
    min: 0,
    max: 3_600_000,
    metavar: 'MS',
    help: 'fail if a phase has p95 delivery latency above this',
  },
  {
    key: 'maxP99Ms',
    kind: 'number',
    min: 0,
    max: 3_600_000,
    metavar: 'MS',
    help: 'fail if a phase has p99 delivery latency above this',
  },
  {
    key: 'minDelivery',
    kind: 'fraction',
    metavar: 'R',
    help: 'fail if a phase delivered less (0.999 or 99.9%)',
  },
  {
    key: 'ramp',
    kind: 'boolean',
    def: false,
    help: 'find the highest rate that keeps p99 under --ramp-p99-ms',
  },
  { key: 'rampP99Ms', kind: 'number', def: 100, min: 1, max: 60_000, help: 'ramp: p99 delivery bound, ms' },
  {
    key: 'rampStart',
    kind: 'number',
    def: 25,
    min: 0.1,
    max: 10_000,
    help: 'ramp: first step rate, messages/s',
  },
  {
    key: 'rampFactor',
    kind: 'number',
    def: 1.5,
    min: 1.05,
    max: 4,
    help: 'ramp: each step multiplies the rate',
  },
  {
    key: 'rampSteps',
    kind: 'int',
    def: 10,
    min: 1,
    max: 30,
    help: 'ramp: most steps in all (refinement included)',
  },
  { key: 'rampStepDuration', kind: 'number', def: 10, min: 1, max: 600, help: 'ramp: seconds per step' },
  {
    key: 'rampMaxRate',
    kind: 'number',
    def: 5000,
    min: 0.1,
    max: 10_000,
    help: 'ramp: never go above this rate',
  },
  {
    key: 'rampRefine',
    kind: 'int',
    def: 2,
    min: 0,
    max: 10,
    help: 'ramp: bisection steps between the last pass and the first failure',
  },
  { key: 'out', kind: 'string', metavar: 'FILE', help: 'write the JSON report here' },
  { key: 'html', kind: 'string', metavar: 'FILE', help: 'write the HTML report here' },
  {
    key: 'registerConcurrency',
    kind: 'int',
    def: 8,
    min: 1,
    max: 64,
    help: 'registrations in flight at once (the server hashes passwords)',
  },
  { key: 'connectConcurrency', kind: 'int', def: 100, min: 1, max: 1000, help: 'connections opened at once' },
  {
    key: 'seed',
    kind: 'int',
    min: 0,
    max: 2 ** 31 - 1,
    metavar: 'N',
    help: 'seed for the send pattern (random)',
  },
  { key: 'allowRemote', kind: 'boolean', def: false, help: 'allow a target that is not a loopback address' },
  {
    key: 'serverMetrics',
    kind: 'boolean',
    def: false,
    help: 'sample GET /metrics of a remote target too (always on for loopback)',
  },
  { key: 'quiet', kind: 'boolean', def: false, help: 'no live progress line' },
  {
    key: 'reconnect',
    kind: 'negated',
    help:
      'do not reconnect dropped devices, re-sync, fill gaps or retry sends (a drop is reported and ' +
      'its deliveries count as missing)',
  },
  {
    key: 'maxSendTries',
    kind: 'int',
    def: 10,
    min: 1,
    max: 100,
    help: 'most writes of one message (same clientMsgId) after drops and retryable refusals',
  },
  {
    key: 'sendTimeout',
    kind: 'number',
    def: 60,
    min: 1,
    max: 3600,
    metavar: 'S',
    help: 'seconds from its scheduled time after which an unacked message is no longer sent again',
  },
  {
    key: 'verify',
    kind: 'verify',
    metavar: 'MODE',
    help: 'final REST check that every acked message is there: devices, users (one device per user) or off (default devices; off with --no-reconnect)',
  },
  {
    key: 'maxMissing',
    kind: 'int',
    min: 0,
    max: 2_000_000_000,
    help: "fail if more deliveries of acked messages are missing on members' devices at the end (default 0; none with --no-reconnect)",
  },
];

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** The option's flag without the dashes; a negated one is `no-<key>` (on unless given). */
const flagOf = (s: Spec) => (s.kind === 'negated' ? `no-${kebab(s.key)}` : kebab(s.key));

export class UsageError extends Error {
  override name = 'UsageError';
}

export type ParsedArgs = { help: true } | { help: false; options: LoadOptions; warnings: string[] };

export function parseOptions(argv: string[]): ParsedArgs {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const s of specs) {
    config[flagOf(s)] = {
      type: s.kind === 'boolean' || s.kind === 'negated' ? 'boolean' : 'string',
      multiple: s.kind === 'urls',
    };
  }
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false }) as {
      values: Record<string, string | boolean | string[] | undefined>;
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { help: true };

  const out: Record<string, unknown> = {};
  for (const s of specs) {
    const name = `--${flagOf(s)}`;
    const raw = values[flagOf(s)];
    if (s.kind === 'negated') {
      out[s.key] = raw !== true;
      continue;
    }
    if (s.kind === 'urls') {
      out.urls = parseUrls(raw === undefined ? [String(s.def)] : (raw as string[]));
      out[s.key] = (out.urls as string[])[0];
      continue;
    }
    if (raw === undefined) {
      out[s.key] = s.def;
      continue;
    }
    if (s.kind === 'boolean' || s.kind === 'string') {
      out[s.key] = raw;
      continue;
    }
    if (s.kind === 'verify') {
      const mode = String(raw) as VerifyMode;
      if (!VERIFY_MODES.includes(mode)) {
        throw new UsageError(`${name} must be one of ${VERIFY_MODES.join(', ')}, got "${String(raw)}"`);
      }
      out[s.key] = mode;
      continue;
    }
    out[s.key] = s.kind === 'fraction' ? parseFraction(name, String(raw)) : parseNumber(s, name, String(raw));
  }
  // --ramp alone means "only the ramp": the steady phase runs only when asked for.
  if (values.ramp && values.duration === undefined) out.duration = 0;
  out.seed ??= Math.floor(Math.random() * 2 ** 31);
  // Reconnecting, the run ends with a check that nothing acked is missing; without, as before.
  out.verify ??= out.reconnect ? 'devices' : 'off';
  if (out.maxMissing === undefined && out.reconnect) out.maxMissing = 0;
  const options = out as unknown as LoadOptions;

  for (const url of options.urls) checkTarget(url, options.allowRemote);
  if (options.rampUp > options.duration && options.duration > 0) {
    throw new UsageError('--ramp-up cannot be longer than --duration');
  }
  if (options.duration === 0 && !options.ramp && options.spikeRate === 0) {
    throw new UsageError('nothing to do: give --duration, --spike-rate or --ramp');
  }
  const perPhase = [options.rate * options.duration, options.spikeRate * options.spikeDuration];
  if (options.ramp) perPhase.push(options.rampMaxRate * options.rampStepDuration);
  if (perPhase.some((n) => n > MAX_MESSAGES_PER_PHASE)) {
    throw new UsageError(`a phase may send at most ${MAX_MESSAGES_PER_PHASE} messages (rate × seconds)`);
  }
  if (options.ramp && options.rampStart > options.rampMaxRate) {
    throw new UsageError('--ramp-start is above --ramp-max-rate');
  }

  const warnings: string[] = [];
  const peak = Math.max(options.rate, options.spikeRate, options.ramp ? options.rampMaxRate : 0);
  if (peak / options.users > DEFAULT_SERVER_SEND_RATE) {
    warnings.push(
      `up to ${(peak / options.users).toFixed(1)} messages/s per user: above the server's default ` +
        `SEND_RATE_PER_SECOND (${DEFAULT_SERVER_SEND_RATE}, plus a burst of 120/min), so sends may be ` +
        'refused RATE_LIMITED. Use more --users or raise the limit on the server.',
    );
  }
  return { help: false, options, warnings };
}

/** Keeps memory and run time bounded: the ledger holds one record per message. */
export const MAX_MESSAGES_PER_PHASE = 2_000_000;
/** The server's default per-user send limit (SEND_RATE_PER_SECOND). */
export const DEFAULT_SERVER_SEND_RATE = 5;

function parseNumber(s: Spec, name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`${name} must be a number, got "${raw}"`);
  if (s.kind === 'int' && !Number.isInteger(n)) throw new UsageError(`${name} must be a whole number`);
  if (s.min !== undefined && n < s.min) throw new UsageError(`${name} must be at least ${s.min}`);
  if (s.max !== undefined && n > s.max) throw new UsageError(`${name} must be at most ${s.max}`);
  return n;
}

/** "0.999" or "99.9%": a fraction without a sign is ambiguous above 1, so it is refused. */
export function parseFraction(name: string, raw: string): number {
  const percent = raw.trim().endsWith('%');
  const n = Number(percent ? raw.trim().slice(0, -1) : raw);
  if (!Number.isFinite(n))
    throw new UsageError(`${name} must be a fraction like 0.999 or a percentage like 99.9%`);
  const value = percent ? n / 100 : n;
  if (value < 0 || value > 1) {
    throw new UsageError(`${name} must be between 0 and 1 (or 0% and 100%), got "${raw}"`);
  }
  return value;
}

/**
 * The --url values: each may hold several URLs separated by commas. Blanks around them
 * are dropped; an empty entry, the same server twice or more than MAX_URLS is refused.
 * Each is checked to be an http(s) URL here; the loopback rule comes later (checkTarget).
 */
export function parseUrls(raw: readonly string[]): string[] {
  const urls: string[] = [];
  const seen = new Map<string, string>();
  for (const value of raw) {
    for (const part of value.split(',')) {
      const url = part.trim();
      if (!url) throw new UsageError(`--url has an empty entry in "${value}"`);
      const parsed = parseHttpUrl(url);
      // The same origin and path twice would only count one node's connections twice.
      const key = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
      const earlier = seen.get(key);
      if (earlier !== undefined) throw new UsageError(`--url "${url}" is the same server as "${earlier}"`);
      seen.set(key, url);
      urls.push(url);
    }
  }
  if (urls.length === 0) throw new UsageError('--url needs a value');
  if (urls.length > MAX_URLS) throw new UsageError(`--url: at most ${MAX_URLS} servers, got ${urls.length}`);
  return urls;
}

function parseHttpUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url is not a URL: "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(
      `--url must be http:// or https:// (the WebSocket URL is derived from it), got "${url}"`,
    );
  }
  return parsed;
}

/** Loopback only unless the operator says otherwise: a load test is an attack on anyone else. */
export function checkTarget(url: string, allowRemote: boolean): void {
  const parsed = parseHttpUrl(url);
  if (!allowRemote && !isLoopbackHost(parsed.hostname)) {
    throw new UsageError(
      `refusing to load-test ${parsed.hostname}: only loopback targets (127.0.0.1, ::1, localhost) ` +
        'are allowed. Pass --allow-remote if this server is yours to test.',
    );
  }
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  // IPv4-mapped 127.x.y.z, as written and as URL normalises it (::ffff:7f00:1).
  if (/^::ffff:127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host))
    return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function helpText(): string {
  const rows = specs.map((s) => {
    const bare = s.kind === 'boolean' || s.kind === 'negated';
    const left = `--${flagOf(s)}${bare ? '' : ` ${s.metavar ?? (s.kind === 'string' ? 'VALUE' : 'N')}`}`;
    const def = s.def === undefined || s.def === false ? '' : ` (default ${s.def})`;
    return `  ${left.padEnd(28)} ${s.help}${def}`;
  });
  return [
    'parley-load: load-test a Parley server over its public API and WebSocket.',
    '',
    'Usage: npm run loadtest -- [options]      (or: npx parley-load [options])',
    '',
    'It registers its own users, creates their chats, connects every device, then sends',
    'messages on an open-loop schedule and measures every delivery. Exit code 0: all',
    'thresholds met; 1: a threshold missed (or connections failed); 2: it could not run.',
    '',
    'Options:',
    ...rows,
    '  -h, --help                   this text',
    '',
    'Example:',
    '  npm run loadtest -- --url http://127.0.0.1:3000 --users 1000 --rate 50 --duration 60 \\',
    '    --max-p99-ms 500 --min-delivery 99.9% --out report.json --html report.html',
    '',
    'Several nodes of one cluster (device k of user n connects to URL (n + k) mod N):',
    '  npm run loadtest -- --url http://127.0.0.1:3001 --url http://127.0.0.1:3002 --devices 2',
    '',
    'Dropped devices reconnect (backoff 100 ms to 5 s; the next --url when theirs fails), resume',
    'from their last inbox position, re-sync and fill seq gaps over REST, and send unacked',
    'messages again with the same clientMsgId. At the end every acked message is looked for',
    "on every member's devices (--verify) and the run fails if one is missing (--max-missing).",
    '',
  ].join('\n');
}

/** The options table for tools/README.md and tests: flag, default, help. */
export function optionRows(): { flag: string; def: string; help: string }[] {
  return specs.map((s) => ({
    flag: `--${flagOf(s)}`,
    def: s.def === undefined ? '' : String(s.def),
    help: s.help,
  }));
}
