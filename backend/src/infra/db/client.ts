/**
 * The database: Prisma Client over a driver adapter, on PGlite (embedded default) or
 * PostgreSQL (DATABASE_URL). Business code uses `db.prisma`; the hot paths (the send
 * pipeline, receipts, the outbox relay) use `db.sql`, one round trip straight through the
 * driver with a prepared statement, because Prisma's per-query cost is most of what a
 * message costs; the migration runner and health checks use `withConnection`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { fuzzystrmatch } from '@electric-sql/pglite/contrib/fuzzystrmatch';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { unaccent } from '@electric-sql/pglite/contrib/unaccent';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { statementLabel } from '../metrics.js';
import { PrismaClient } from './generated/client.js';

export type DatabaseTarget = { kind: 'pglite'; dir: string } | { kind: 'postgres'; url: string };

export interface DatabaseOptions {
  /** PostgreSQL connections in the pool. */
  poolSize?: number;
  /** How long a request may wait for a connection (or a Prisma transaction to start). */
  acquireTimeoutMs?: number;
  /**
   * Told each statement's time (for /metrics) with its label: the hot-path statement's name
   * or the SQL verb (metrics.ts, `statementLabel`). PostgreSQL: every statement; PGlite:
   * `sql` and raw sessions.
   */
  onQuery?: (statement: string, seconds: number) => void;
}

/** Reports a statement's time once `result` settles (a promise, or a callback run). */
function timeQuery<R>(opts: DatabaseOptions, statement: unknown, run: () => R): R {
  const { onQuery } = opts;
  if (!onQuery) return run();
  const started = performance.now();
  const result = run();
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    const done = () => onQuery(statementLabel(statement), (performance.now() - started) / 1000);
    (result as unknown as Promise<unknown>).then(done, done);
  }
  return result;
}

/** One connection, for scripts and statements that must share a session. */
export interface RawConnection {
  /** Runs a script of one or more statements without parameters. */
  exec(sql: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * A hot-path statement: its text, and a name under which PostgreSQL keeps it prepared and
 * planned once (generic plan). Without a name it is planned on every run, with the
 * statistics of the moment: for statements whose best plan depends on table sizes.
 */
export interface Statement {
  name?: string;
  text: string;
}

export interface Database {
  kind: DatabaseTarget['kind'];
  prisma: PrismaClient;
  /** One statement (autocommit), prepared once per connection. */
  sql<T = Record<string, unknown>>(statement: Statement, params: unknown[]): Promise<T[]>;
  withConnection<T>(fn: (conn: RawConnection) => Promise<T>): Promise<T>;
  /**
   * Statements sent since start (/metrics): on PostgreSQL every statement of every
   * connection (Prisma's too, transaction control included); on PGlite those of `sql`.
   */
  readonly statements: number;
  close(): Promise<void>;
}

export async function openDatabase(target: DatabaseTarget, opts: DatabaseOptions = {}): Promise<Database> {
  return target.kind === 'pglite' ? openPglite(target.dir, opts) : openPostgres(target.url, opts);
}

/** Prisma's interactive transactions wait this long for a connection before failing (P2028). */
function transactionOptions(opts: DatabaseOptions) {
  const maxWait = opts.acquireTimeoutMs ?? 10_000;
  return { maxWait, timeout: Math.max(30_000, maxWait * 2) };
}

/** The embedded database is open in another process (a running server): it is not shared. */
export class DatabaseInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `The embedded database ${dir} is in use by process ${pid} (a running Parley server). ` +
        `Stop it first. If no such process runs, delete ${dir}.lock.`,
    );
    this.name = 'DatabaseInUseError';
  }
}

/**
 * PGlite is one process's database: a second process opening the same directory (a second
 * server, the admin CLI, a backup) would corrupt it. `<dir>.lock` holds the owner's pid; a
 * lock whose process is gone is taken over.
 */
function lockPgliteDir(dir: string): () => void {
  const file = `${dir}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
        } catch {
          // gone already
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner))
        throw new DatabaseInUseError(dir, owner);
      rmSync(file, { force: true });
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function openPglite(dir: string, opts: DatabaseOptions): Promise<Database> {
  const memory = dir.startsWith('memory://');
  if (!memory) mkdirSync(dir, { recursive: true });
  const unlock = memory ? () => undefined : lockPgliteDir(dir);
  // The search migrations create these extensions; PGlite must have them loaded to do so.
  const pglite = new PGlite(dir, { extensions: { pg_trgm, unaccent, fuzzystrmatch } });
  try {
    await pglite.waitReady;
  } catch (err) {
    unlock();
    throw err;
  }
  yieldBeforeEachCall(pglite);
  const prisma = new PrismaClient({
    adapter: new PrismaPGlite(pglite),
    transactionOptions: transactionOptions(opts),
  });
  const conn: RawConnection = {
    exec: async (sql) => {
      await pglite.exec(sql);
    },
    query: async <T>(sql: string, params?: unknown[]) =>
      (await timeQuery(opts, sql, () => pglite.query<T>(sql, params))).rows,
  };
  // PGlite is a single connection; serialise raw sessions so a migration's BEGIN..COMMIT
  // is never interleaved with another raw session. (pglite.query itself waits for an open
  // transaction to finish, so `sql` needs no queue of its own.)
  let queue: Promise<unknown> = Promise.resolve();
  let statements = 0;
  const hot = await openPgliteHotPath(pglite);
  return {
    kind: 'pglite',
    prisma,
    async sql<T>(statement: Statement, params: unknown[]) {
      statements += 1;
      return timeQuery(opts, statement, () => hot<T>(statement, params));
    },
    get statements() {
      return statements;
    },
    withConnection: (fn) => {
      const run = queue.then(() => fn(conn));
      queue = run.catch(() => undefined);
      return run;
    },
    close: async () => {
      await prisma.$disconnect();
      if (!pglite.closed) await pglite.close();
      unlock();
    },
  };
}

/** Resolves once the event loop has had a turn at I/O (timers, sockets) since the call. */
const yieldToIO = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * PGlite runs each statement in this thread and resolves it without giving way to I/O: one
 * user's statements in a row (a burst of reactions, each a transaction of several) would
 * keep every socket and request waiting until they were all done (seen: /health held up
 * for half a second). Every query and transaction first lets the loop read what came in,
 * so the others' statements queue behind them in turn. (Statements inside a transaction
 * do not wait: it holds the only connection.)
 */
function yieldBeforeEachCall(pglite: PGlite): void {
  const query = pglite.query.bind(pglite);
  const transaction = pglite.transaction.bind(pglite);
  pglite.query = (async (...args: Parameters<typeof query>) => {
    await yieldToIO();
    return query(...args);
  }) as typeof pglite.query;
  pglite.transaction = (async (...args: Parameters<typeof transaction>) => {
    await yieldToIO();
    return transaction(...args);
  }) as typeof pglite.transaction;
}

/**
 * The hot path on PGlite: node-postgres over PGlite's own protocol bridge, so named
 * statements are prepared and planned once (three to four times cheaper per statement
 * than pglite.query, which parses and plans each time), with the same type parsing as on
 * PostgreSQL. PGlite is one connection: every statement holds PGlite's transaction lock,
 * as pglite.query does, so it can never run inside someone else's open transaction.
 */
async function openPgliteHotPath(
  pglite: PGlite,
): Promise<<T>(statement: Statement, params: unknown[]) => Promise<T[]>> {
  const exclusive = (
    pglite as unknown as { _runExclusiveTransaction?: <R>(fn: () => Promise<R>) => Promise<R> }
  )._runExclusiveTransaction;
  if (typeof exclusive !== 'function') {
    // A PGlite without that lock: stay on its public API (correct, only slower).
    return async <T>(statement: Statement, params: unknown[]) =>
      (await pglite.query<T>(statement.text, params)).rows;
  }
  const locked = <R>(fn: () => Promise<R>): Promise<R> => exclusive.call(pglite, fn) as Promise<R>;
  const client = new pg.Client(createPgConfig(pglite) as unknown as pg.ClientConfig);
  await client.connect();
  await locked(() => client.query('SET plan_cache_mode = force_generic_plan'));
  return async <T>(statement: Statement, params: unknown[]) => {
    await yieldToIO(); // as yieldBeforeEachCall
    const result = await locked(() =>
      client.query(
        statement.name
          ? { name: statement.name, text: statement.text, values: params }
          : { text: statement.text, values: params },
      ),
    );
    return result.rows as T[];
  };
}

async function openPostgres(url: string, opts: DatabaseOptions): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    // Connections are kept: opening one costs more than a message does. They are replaced
    // only when they break (or after five idle minutes).
    idleTimeoutMillis: 300_000,
    // Waiting longer than this for a connection means the database is down or saturated:
    // the caller gets a retryable error instead of hanging.
    connectionTimeoutMillis: opts.acquireTimeoutMs ?? 10_000,
    keepAlive: true,
    // The hot-path statements are prepared once per connection and planned once: their
    // plans do not depend on the values (arrays of keys), and planning would cost as much
    // as running them. Prisma's statements are unnamed, so this does not reach them.
    options: '-c plan_cache_mode=force_generic_plan',
  });
  // An idle client erroring (server restart) must not crash the process.
  pool.on('error', () => undefined);
  let statements = 0;
  pool.on('connect', (client) => {
    // Counted at the connection, so Prisma's statements are in the count as well.
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      statements += 1;
      const callback = args.at(-1);
      if (typeof callback === 'function' && opts.onQuery) {
        // Callback style: timed when the callback runs.
        const started = performance.now();
        const label = statementLabel(args[0]);
        args[args.length - 1] = (...result: unknown[]) => {
          opts.onQuery!(label, (performance.now() - started) / 1000);
          return (callback as (...r: unknown[]) => unknown)(...result);
        };
        return query(...args);
      }
      return timeQuery(opts, args[0], () => query(...args));
    };
  });
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool),
    transactionOptions: transactionOptions(opts),
  });
  return {
    kind: 'postgres',
    prisma,
    async sql<T>(statement: Statement, params: unknown[]) {
      const result = await pool.query(
        statement.name
          ? { name: statement.name, text: statement.text, values: params }
          : { text: statement.text, values: params },
      );
      return result.rows as T[];
    },
    get statements() {
      return statements;
    },
    withConnection: async (fn) => {
      const client = await pool.connect();
      try {
        return await fn({
          exec: async (sql) => {
            await client.query(sql);
          },
          query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
        });
      } finally {
        client.release();
      }
    },
    close: async () => {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}
