/**
 * What the end-to-end test and the benchmarks share: undo-on-exit bookkeeping, a free
 * loopback port, a throwaway PostgreSQL database, a throwaway Redis key prefix, and the
 * real server started as a child process and awaited on GET /health.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Everything to undo, in reverse order, however the run ends (also on Ctrl+C). */
/** Runs the functions newest first, each once; a failing one is reported, the rest still run. */
async function runReversed(list) {
  for (const fn of list.reverse()) {
    try {
      await fn();
    } catch (err) {
      console.error(`cleanup: ${err instanceof Error ? err.message : err}`);
    }
  }
}

export function createCleanups() {
  const cleanups = [];
  let cleaningUp = null;
  const cleanup = () => (cleaningUp ??= runReversed(cleanups));
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      console.error(`\n${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  /** True once cleanup has begun (Ctrl+C, an error): start nothing new after that. */
  const closing = () => cleaningUp !== null;
  /**
   * Cleanups of one part of a run (a scenario's server, database, DATA_DIR): `close()` runs
   * them when the part ends, or the run's cleanup does at exit, whichever comes first.
   */
  const scope = () => {
    const list = [];
    let closed = null;
    const close = () => (closed ??= runReversed(list));
    cleanups.push(close);
    return { list, close };
  };
  return { cleanups, cleanup, closing, scope };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * With DATABASE_URL (or `base`): a throwaway database `<prefix>_<random>` on that server,
 * dropped afterwards.
 */
export async function freshDatabase(prefix, cleanups, base = process.env.DATABASE_URL) {
  if (!base) return undefined;
  const { default: pg } = await import('pg');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  cleanups.push(async () => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A key prefix `<prefix>-<random>` of its own on the Redis at `redisUrl`, for servers that
 * share it (REDIS_KEY_PREFIX): its keys are deleted afterwards (SCAN + UNLINK, bounded).
 * Returns the prefix and `deleted()`, how many keys the cleanup removed (once it ran).
 */
export async function freshRedisPrefix(redisUrl, prefix, cleanups) {
  const { Redis } = await import('ioredis');
  const name = `${prefix}-${randomBytes(6).toString('hex')}`;
  const open = async () => {
    const client = new Redis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    await client.connect();
    return client;
  };
  // Reachable now, so a missing Redis fails the start, not the cleanup.
  const probe = await open();
  await probe.quit();
  let deleted;
  cleanups.push(async () => {
    const client = await open();
    try {
      deleted = 0;
      let cursor = '0';
      // SCAN visits every key present throughout; 100,000 rounds of 1,000 is far beyond any run.
      for (let round = 0; round < 100_000; round++) {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${name}:*`, 'COUNT', 1000);
        if (keys.length) deleted += await client.unlink(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
    } finally {
      client.disconnect();
    }
  });
  return { prefix: name, deleted: () => deleted };
}

/** Direct children of `pid` (Linux /proc; none elsewhere). */
function childPids(pid) {
  const out = [];
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name in parentheses and the state.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * A server of its own for one run: a temporary DATA_DIR, a fresh PostgreSQL database named
 * after `name` when DATABASE_URL is set (embedded PGlite otherwise), a free port; all undone
 * by `cleanups`. Resolves as startServer does, with `databaseUrl` (undefined on PGlite).
 */
export async function startFreshServer({ name, cleanups, env }) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `parley-${name}-`));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const databaseUrl = await freshDatabase(`parley_${name.replaceAll('-', '_')}`, cleanups);
  const port = await freePort();
  return { ...(await startServer({ port, dataDir, databaseUrl, cleanups, env })), databaseUrl };
}

/**
 * Starts `backend/src/main.ts` on 127.0.0.1:`port` with `env` on top of this process's
 * environment, and resolves once /health answers 200 with `{ base, output, pid }`. Keeps the
 * server's last warnings and errors (and anything that is not a log line) in `output`; `pid`
 * is the process spawned (tsx, which runs the server in a child: see probe.mjs serverPid).
 *
 * For looking into a run: BENCH_NODE_FLAGS are passed to Node before the entry point
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", "--trace-gc"), and BENCH_SERVER_OUTPUT names
 * a file that receives everything the server writes (its log lines included).
 */
export async function startServer({
  port,
  dataDir,
  databaseUrl,
  env: extra,
  cleanups,
  startTimeoutMs = 60_000,
}) {
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    // Benchmarks and the end-to-end test register all their users from 127.0.0.1, many at
    // once: no per-address limit, and registrations wait for argon2 rather than get a 503.
    REGISTER_ADDRESS_MAX: '1000000',
    LOGIN_ADDRESS_MAX_FAILURES: '1000000',
    PASSWORD_HASH_QUEUE_MAX: '100000',
    PASSWORD_HASH_WAIT_MS: '120000',
    ...extra,
  };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  else delete env.DATABASE_URL;
  const child = spawn(
    path.join(root, 'node_modules', '.bin', 'tsx'),
    [...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), 'backend/src/main.ts'],
    {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output = [];
  const partial = { stdout: '', stderr: '' };
  const keep = (stream) => (chunk) => {
    if (process.env.BENCH_SERVER_OUTPUT) appendFileSync(process.env.BENCH_SERVER_OUTPUT, chunk);
    const lines = (partial[stream] + chunk.toString()).split('\n');
    partial[stream] = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        if (JSON.parse(line).level < 40) continue;
      } catch {
        // not a log line: keep it
      }
      output.push(line);
      if (output.length > 200) output.shift();
    }
  };
  child.stdout.on('data', keep('stdout'));
  child.stderr.on('data', keep('stderr'));
  let exited = false;
  child.on('exit', () => (exited = true));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        if (exited) return resolve();
        const kill = setTimeout(() => {
          // tsx runs the server in a child of its own: when tsx has to be killed, that
          // child would outlive it, so it goes first.
          for (const pid of childPids(child.pid)) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone meanwhile
            }
          }
          child.kill('SIGKILL');
        }, 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  );
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited during start-up:\n${output.join('\n')}`);
    try {
      const res = await fetch(`${base}/health`);
      if (res.status === 200) return { base, output, pid: child.pid };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `server did not answer GET /health with 200 within ${startTimeoutMs / 1000} s:\n${output.join('\n')}`,
  );
}
