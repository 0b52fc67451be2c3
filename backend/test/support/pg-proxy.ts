/**
 * A TCP proxy in front of PostgreSQL that tests can break on purpose: cut every
 * connection and refuse new ones (the database is away), or cut one connection right
 * after PostgreSQL has committed a given prepared statement and before its answer reaches
 * the server (the worst moment for a lost connection).
 */
import net from 'node:net';

export interface PgProxy {
  /** postgresql:// URL through the proxy to the same database. */
  url: string;
  /** Cut every open connection and refuse new ones until `restore`. */
  cutAll(): void;
  restore(): void;
  /**
   * The next time a connection runs the prepared statement `statement` (a Bind of it) or a
   * simple query matching `query` (such as Prisma's COMMIT), drop that connection when
   * PostgreSQL has finished it (ReadyForQuery: committed), without passing the answer on.
   * Resolves when it happened.
   */
  cutAfter(match: { statement?: string; query?: RegExp }): Promise<void>;
  close(): Promise<void>;
}

/** ReadyForQuery: 'Z', length 5, then the transaction status byte. */
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);

export async function startPgProxy(targetUrl: string): Promise<PgProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let refusing = false;
  let armed: { statement?: string; query?: RegExp; done: () => void } | null = null;

  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    let cutting = false;
    // The client's byte stream, cut into protocol messages so a Bind can be recognised.
    let pending = Buffer.alloc(0);
    let startupSeen = false;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (!startupSeen) {
          // The startup packet (and an SSL request) has a length but no type byte.
          if (pending.length < 4) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          const code = pending.readInt32BE(4);
          pending = pending.subarray(length);
          if (code !== 80877103) startupSeen = true; // not an SSLRequest: the real startup
          continue;
        }
        if (pending.length < 5) break;
        const type = pending[0]!;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        // Bind ('B'): the portal name, then the statement name, as C strings.
        if (type === 0x42 && armed?.statement && !cutting) {
          const body = pending.subarray(5, 1 + length);
          const portalEnd = body.indexOf(0);
          const statement = body.subarray(portalEnd + 1, body.indexOf(0, portalEnd + 1)).toString();
          if (statement === armed.statement) cutting = true;
        }
        // Query ('Q'): the text of a simple query.
        if (type === 0x51 && armed?.query && !cutting) {
          const text = pending.subarray(5, length).toString();
          if (armed.query.test(text)) cutting = true;
        }
        pending = pending.subarray(1 + length);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (cutting && chunk.includes(READY_FOR_QUERY)) {
        const done = armed?.done;
        armed = null;
        cut();
        done?.();
        return;
      }
      client.write(chunk);
    });
    const forget = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      cut();
    };
    client.on('close', forget);
    upstream.on('close', forget);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  return {
    url: url.toString(),
    cutAll() {
      refusing = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      refusing = false;
    },
    cutAfter(match) {
      return new Promise<void>((resolve) => {
        armed = { ...match, done: resolve };
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
