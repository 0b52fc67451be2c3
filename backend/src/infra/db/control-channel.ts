/**
 * Orders to running nodes from outside them (the admin CLI), over PostgreSQL's
 * LISTEN/NOTIFY, for installations without Redis (with REDIS_URL the CLI publishes on the
 * Redis bus, which every node already reads). Today's only order: close these sessions'
 * sockets (a deactivated user, a reset password).
 *
 * The listener keeps one connection of its own and comes back after a lost connection
 * (orders sent meanwhile are lost: the sessions are revoked in the database all the same,
 * so those sockets fail their next command; they are only not closed at once).
 */
import pg from 'pg';
import type { BusMessage } from '../realtime/bus.js';

export const CONTROL_CHANNEL = 'parley_control';

/** Largest NOTIFY payload PostgreSQL takes (8000 bytes), minus a margin. */
const MAX_PAYLOAD = 7900;

export interface ControlListener {
  close(): Promise<void>;
}

/** Parses an order; anything else is dropped. */
export function parseControlMessage(payload: string | undefined): BusMessage | null {
  try {
    const value = JSON.parse(payload ?? '') as { kind?: unknown; sessionIds?: unknown };
    if (
      value.kind === 'close-sessions' &&
      Array.isArray(value.sessionIds) &&
      value.sessionIds.every((id) => typeof id === 'string')
    )
      return { kind: 'close-sessions', sessionIds: value.sessionIds as string[] };
  } catch {
    // not JSON
  }
  return null;
}

export function listenForControl(
  url: string,
  deliver: (message: BusMessage) => void,
  onError: (err: unknown) => void,
): ControlListener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = 500;

  const connect = async () => {
    const c = new pg.Client({ connectionString: url, keepAlive: true });
    client = c;
    c.on('notification', (n) => {
      if (n.channel !== CONTROL_CHANNEL) return;
      const message = parseControlMessage(n.payload);
      if (message) deliver(message);
    });
    c.on('error', (err) => {
      onError(err);
      again();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CONTROL_CHANNEL}`);
      delay = 500;
      if (closed) await c.end().catch(() => undefined);
    } catch (err) {
      onError(err);
      again();
    }
  };
  const again = () => {
    const c = client;
    client = undefined;
    void c?.end().catch(() => undefined);
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, delay);
    retry.unref();
    delay = Math.min(delay * 2, 10_000);
  };
  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}

/** Sends an order to every listening node (in parts that fit PostgreSQL's payload limit). */
export async function notifyControl(
  query: (sql: string, params: unknown[]) => Promise<unknown>,
  message: Extract<BusMessage, { kind: 'close-sessions' }>,
): Promise<void> {
  let part: string[] = [];
  const send = async () => {
    if (part.length)
      await query('SELECT pg_notify($1, $2)', [
        CONTROL_CHANNEL,
        JSON.stringify({ kind: message.kind, sessionIds: part }),
      ]);
    part = [];
  };
  for (const id of message.sessionIds) {
    if (JSON.stringify({ kind: message.kind, sessionIds: [...part, id] }).length > MAX_PAYLOAD) await send();
    part.push(id);
  }
  await send();
}
