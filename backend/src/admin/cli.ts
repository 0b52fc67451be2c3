/**
 * The admin CLI: `npm run admin -- <command>` (in the image: `node backend/dist/admin.js`).
 * It reads the same environment as the server (config.ts) and works on the same database.
 *
 *   users create --username U --email E --display-name N [--admin] [--password-stdin]
 *   users reset-password <username> [--password-stdin]
 *   users deactivate <username>        sessions revoked, sockets closed (1008), no sign-in
 *   users reactivate <username>
 *   users list [--limit N]
 *   nodes [--probe]                    the running nodes and their health
 *   migrate [--wait] [--timeout-seconds N]
 *   config                             the effective configuration, secrets masked
 *
 * Add --json for machine-readable output. Without --password-stdin a password is generated
 * and printed once. Exit codes: 0 done, 1 failed, 2 usage. On the embedded database the
 * server must be stopped first (its lock says so); `config` and `nodes` never need it.
 * specs/operations.md documents each command.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createPasswords } from '../auth/passwords.js';
import { NODE_STALE_MS, readNodes, type NodeReport } from '../health/node-registry.js';
import { ConfigError, loadConfig, type Config } from '../infra/config.js';
import { DatabaseInUseError, openDatabase, type Database } from '../infra/db/client.js';
import { notifyControl } from '../infra/db/control-channel.js';
import { migrate, pendingMigrations } from '../infra/db/migrate.js';
import { AppError } from '../infra/errors.js';
import { createWorkLimit } from '../infra/work-limit.js';
import { effectiveConfig } from './effective-config.js';
import {
  createAccount,
  listAccounts,
  resetPassword,
  setActive,
  type AccountRow,
  type AdminContext,
} from './manage-users.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Everything on standard input (for --password-stdin). */
  readStdin(): Promise<string>;
}

/** What the commands are given: the config, and the database and Redis on demand. */
export interface CliEnvironment {
  config: Config;
  /** Opens (once) what the account commands need. */
  admin(): Promise<AdminContext>;
  /** The database alone (migrations). */
  database(): Promise<Database>;
  redis(): Redis | undefined;
  close(): Promise<void>;
}

const USAGE = `usage: npm run admin -- <command> [options]
  users create --username U --email E --display-name N [--admin] [--password-stdin]
  users reset-password <username> [--password-stdin]
  users deactivate <username>
  users reactivate <username>
  users list [--limit N]
  nodes [--probe]
  migrate [--wait] [--timeout-seconds N]
  config
options: --json (machine-readable output)`;

class UsageError extends Error {}

const OPTIONS = {
  username: { type: 'string' },
  email: { type: 'string' },
  'display-name': { type: 'string' },
  admin: { type: 'boolean', default: false },
  'password-stdin': { type: 'boolean', default: false },
  limit: { type: 'string' },
  probe: { type: 'boolean', default: false },
  wait: { type: 'boolean', default: false },
  'timeout-seconds': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

/** Runs one command; resolves with the exit code. */
export async function runAdmin(argv: string[], env: CliEnvironment, io: CliIo): Promise<number> {
  let args: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    args = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: opts, positionals } = args;
  const json = opts.json;
  const print = (value: unknown, text: string) => io.out(json ? JSON.stringify(value, null, 2) : text);
  try {
    const [command, sub, target] = positionals;
    if (opts.help || !command) {
      io.out(USAGE);
      return command || opts.help ? 0 : 2;
    }
    if (command === 'config') {
      print(effectiveConfig(env.config), JSON.stringify(effectiveConfig(env.config), null, 2));
      return 0;
    }
    if (command === 'nodes') {
      const nodes = await listNodes(env, opts.probe);
      print(nodes, formatNodes(nodes));
      return nodes.length > 0 && nodes.every((n) => n.status === 'ready') ? 0 : 1;
    }
    if (command === 'migrate') {
      const db = await env.database();
      if (opts.wait) {
        const timeout = seconds(opts['timeout-seconds'], 600);
        const deadline = Date.now() + timeout * 1000;
        for (;;) {
          const pending = await pendingMigrations(db).catch((err: Error) => [`(database: ${err.message})`]);
          if (pending.length === 0) {
            print({ pending: [] }, 'Every migration is applied.');
            return 0;
          }
          if (Date.now() > deadline) {
            print({ pending }, `Still pending after ${timeout} s: ${pending.join(', ')}`);
            return 1;
          }
          await new Promise((resolve) => setTimeout(resolve, 2000));
        }
      }
      const result = await migrate(db);
      print(
        result,
        result.applied.length
          ? `Applied ${result.applied.length} migration(s): ${result.applied.join(', ')}`
          : `Up to date (${result.alreadyApplied} migration(s) applied).`,
      );
      if (result.unknown.length)
        io.err(`The database has migrations this version lacks: ${result.unknown.join(', ')}`);
      return 0;
    }
    if (command === 'users') {
      const ctx = await env.admin();
      switch (sub) {
        case 'create': {
          const { username, email } = opts;
          const displayName = opts['display-name'];
          if (!username || !email || !displayName)
            throw new UsageError('users create needs --username, --email and --display-name');
          const { password, generated } = await passwordFrom(opts['password-stdin'], io);
          const user = await createAccount(ctx, {
            username,
            email,
            displayName,
            password,
            isAdmin: opts.admin,
          });
          print(
            { user, ...(generated ? { password } : {}) },
            `Created ${describe(user)}${generated ? `\nPassword (shown once): ${password}` : ''}`,
          );
          return 0;
        }
        case 'reset-password': {
          const username = need(target, 'users reset-password <username>');
          const { password, generated } = await passwordFrom(opts['password-stdin'], io);
          const { user, sessionsClosed } = await resetPassword(ctx, username, password);
          print(
            { user, sessionsClosed, ...(generated ? { password } : {}) },
            `New password for ${user.username}; ${sessionsClosed} session(s) signed out.` +
              (generated ? `\nPassword (shown once): ${password}` : ''),
          );
          return 0;
        }
        case 'deactivate':
        case 'reactivate': {
          const username = need(target, `users ${sub} <username>`);
          const { user, changed, sessionsClosed } = await setActive(ctx, username, sub === 'reactivate');
          const state = sub === 'deactivate' ? 'deactivated' : 'active';
          print(
            { user, changed, sessionsClosed },
            `${user.username} is ${state}${changed ? '' : ' (it was already)'}` +
              (sub === 'deactivate' ? `; ${sessionsClosed} session(s) signed out.` : '.'),
          );
          return 0;
        }
        case 'list': {
          const users = await listAccounts(ctx, Math.min(10_000, seconds(opts.limit, 100)));
          print(users, users.map(describe).join('\n') || 'No users.');
          return 0;
        }
        default:
          throw new UsageError(`unknown command: users ${sub ?? ''}`);
      }
    }
    throw new UsageError(`unknown command: ${command}`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof AppError) io.err(`${err.code}: ${err.message}`);
    else if (err instanceof DatabaseInUseError) io.err(err.message);
    else io.err(`failed: ${(err as Error).message}`);
    return 1;
  }
}

function need(value: string | undefined, usage: string): string {
  if (!value) throw new UsageError(`missing argument: ${usage}`);
  return value;
}

function seconds(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`not a positive whole number: ${value}`);
  return n;
}

async function passwordFrom(
  fromStdin: boolean,
  io: CliIo,
): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: randomBytes(15).toString('base64url'), generated: true };
  const password = (await io.readStdin()).replace(/\r?\n$/, '');
  if (!password) throw new UsageError('--password-stdin: standard input is empty');
  return { password, generated: false };
}

function describe(user: AccountRow): string {
  const flags = [user.isAdmin ? 'administrator' : '', user.deactivatedAt ? 'deactivated' : ''].filter(
    Boolean,
  );
  return `${user.username} <${user.email}> "${user.displayName}" ${user.id}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

interface NodeStatus {
  id: string;
  address: string | undefined;
  hostname: string | undefined;
  status: 'ready' | 'not ready' | 'down';
  checks: Record<string, string>;
  connections: number | undefined;
  lastReportSecondsAgo: number | undefined;
  probe?: string;
}

/** Registered nodes (Redis), or the one node on this host's configured port (no Redis). */
async function listNodes(env: CliEnvironment, probe: boolean): Promise<NodeStatus[]> {
  const redis = env.redis();
  if (!redis) {
    const host = ['0.0.0.0', '::', ''].includes(env.config.host) ? '127.0.0.1' : env.config.host;
    const address = `http://${host.includes(':') ? `[${host}]` : host}:${env.config.port}`;
    const answer = await probeNode(address);
    return [
      {
        id: 'local',
        address,
        hostname: undefined,
        status: answer.ok ? 'ready' : answer.reachable ? 'not ready' : 'down',
        checks: answer.checks,
        connections: undefined,
        lastReportSecondsAgo: undefined,
        probe: answer.summary,
      },
    ];
  }
  const reports = await readNodes(redis, env.config.redisKeyPrefix);
  return Promise.all(
    reports.map(async (r: NodeReport): Promise<NodeStatus> => {
      const age = (Date.now() - Date.parse(r.reportedAt)) / 1000;
      const status: NodeStatus = {
        id: r.id,
        address: r.address,
        hostname: r.hostname,
        status: age * 1000 > NODE_STALE_MS ? 'down' : r.ready ? 'ready' : 'not ready',
        checks: r.checks,
        connections: r.connections,
        lastReportSecondsAgo: Math.round(age),
      };
      if (probe && r.address) {
        const answer = await probeNode(r.address);
        status.probe = answer.summary;
        if (!answer.reachable) status.status = 'down';
        else if (!answer.ok && status.status === 'ready') status.status = 'not ready';
      }
      return status;
    }),
  );
}

async function probeNode(
  address: string,
): Promise<{ reachable: boolean; ok: boolean; checks: Record<string, string>; summary: string }> {
  try {
    const res = await fetch(`${address}/health/ready`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json().catch(() => ({}))) as {
      checks?: Record<string, string>;
      error?: { details?: Record<string, string> };
    };
    const checks = body.checks ?? body.error?.details ?? {};
    return {
      reachable: true,
      ok: res.status === 200,
      checks,
      summary: `/health/ready answered ${res.status}`,
    };
  } catch (err) {
    return { reachable: false, ok: false, checks: {}, summary: `no answer: ${(err as Error).message}` };
  }
}

function formatNodes(nodes: NodeStatus[]): string {
  if (nodes.length === 0)
    return 'No node has reported (nodes report through Redis: is REDIS_URL the nodes’ one?).';
  return nodes
    .map((n) => {
      const failing = Object.entries(n.checks)
        .filter(([, v]) => v !== 'ok')
        .map(([k, v]) => `${k}: ${v}`);
      return [
        `${n.status.padEnd(9)} ${n.address ?? '(no address yet)'}  ${n.hostname ?? ''} ${n.id}`,
        n.connections !== undefined ? `  sockets ${n.connections}` : '',
        n.lastReportSecondsAgo !== undefined ? `  reported ${n.lastReportSecondsAgo} s ago` : '',
        failing.length ? `  (${failing.join('; ')})` : '',
        n.probe ? `  probe: ${n.probe}` : '',
      ].join('');
    })
    .join('\n');
}

/** The environment from config: the database and Redis opened when a command needs them. */
export function cliEnvironment(config: Config): CliEnvironment {
  let db: Promise<Database> | undefined;
  let redis: Redis | undefined;
  let admin: AdminContext | undefined;
  const database = () =>
    (db ??= openDatabase(config.database, { poolSize: 2, acquireTimeoutMs: config.dbPool.acquireTimeoutMs }));
  const redisClient = () => {
    if (!config.redisUrl) return undefined;
    redis ??= new Redis(config.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: false });
    return redis;
  };
  return {
    config,
    database,
    redis: redisClient,
    async admin() {
      if (admin) return admin;
      const opened = await database();
      admin = {
        config,
        db: opened,
        passwords: createPasswords(createWorkLimit(config.passwordHashing)),
        now: () => new Date(),
        async closeSessions(sessionIds) {
          if (sessionIds.length === 0) return;
          // Every node hears it: on the Redis bus the nodes share, or over NOTIFY without Redis.
          const r = redisClient();
          if (r) {
            const message = { kind: 'close-sessions', sessionIds: [...sessionIds] };
            await r.publish(
              `${config.redisKeyPrefix}:bus`,
              JSON.stringify({ from: `admin-cli:${randomUUID()}`, message }),
            );
          }
          if (opened.kind === 'postgres')
            await notifyControl((sql, params) => opened.withConnection((c) => c.query(sql, params)), {
              kind: 'close-sessions',
              sessionIds: [...sessionIds],
            });
        },
      };
      return admin;
    },
    async close() {
      if (db) await (await db.catch(() => undefined))?.close();
      redis?.disconnect();
    },
  };
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : String(err));
    return 1;
  }
  const env = cliEnvironment(config);
  try {
    return await runAdmin(process.argv.slice(2), env, {
      out: (line) => console.log(line),
      err: (line) => console.error(line),
      readStdin: async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      },
    });
  } finally {
    await env.close();
  }
}

// Run as a program (tsx or the bundle), not when a test imports it.
const entry = process.argv[1] ?? '';
if (/admin[/\\]cli\.ts$|admin\.js$/.test(entry)) process.exitCode = await main();
