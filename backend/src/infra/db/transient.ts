/**
 * Which database failures are the database being away or saturated (retry later), as
 * opposed to a bug. These become SERVICE_UNAVAILABLE with a retry hint, never a 500.
 */

/** PostgreSQL SQLSTATEs that mean "not now": connection problems, shutdown, overload. */
const TRANSIENT_SQLSTATES = new Set([
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
  '53300', // too_many_connections
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

/** Prisma's codes for the same situations. */
const TRANSIENT_PRISMA_CODES = new Set([
  'P1001', // can't reach database server
  'P1002', // database server timed out
  'P1008', // operations timed out
  'P1017', // server has closed the connection
  'P2024', // timed out fetching a connection from the pool
  'P2028', // transaction API error: unable to start a transaction in the given time, or expired
  'P2034', // write conflict or deadlock: retry
]);

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN']);

const TRANSIENT_MESSAGES = [
  'Connection terminated',
  'connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection is not open',
  'terminating connection',
  'the database system is',
  'Unable to start a transaction in the given time',
  'Transaction already closed',
  'Transaction API error',
];

/** True when the error says the database is unreachable, restarting or saturated. */
export function isTransientDbError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string') {
      if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_PRISMA_CODES.has(code) || TRANSIENT_NODE_CODES.has(code))
        return true;
    }
    if (typeof message === 'string' && TRANSIENT_MESSAGES.some((m) => message.includes(m))) return true;
    // Prisma's driver-adapter errors carry the driver's error as `cause` (originalCode / kind).
    const meta = e as { originalCode?: unknown; kind?: unknown };
    if (typeof meta.originalCode === 'string' && TRANSIENT_SQLSTATES.has(meta.originalCode)) return true;
    if (
      meta.kind === 'DatabaseNotReachable' ||
      meta.kind === 'ConnectionClosed' ||
      meta.kind === 'SocketTimeout'
    )
      return true;
    e = cause ?? (e as { meta?: { driverAdapterError?: unknown } }).meta?.driverAdapterError;
  }
  return false;
}

/** A unique constraint was violated (two writers raced for the same key). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown } | undefined;
  return e?.code === '23505' || e?.code === 'P2002';
}
