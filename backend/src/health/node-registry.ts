/**
 * Which nodes run, and how they are, for operators (`npm run admin -- nodes`). With Redis,
 * every node writes a report every few seconds: its address, process, start time, the
 * checks of /health/ready and its open sockets. A report is kept an hour, so a node that
 * stopped reporting is listed as down rather than forgotten at once.
 *
 * Keys (under REDIS_KEY_PREFIX): `<prefix>:registry` a sorted set of node ids by last report
 * (ms), `<prefix>:registry:<id>` the report as JSON.
 */
import os from 'node:os';
import type { Redis } from 'ioredis';

export interface NodeReport {
  id: string;
  hostname: string;
  pid: number;
  /** http://host:port this node serves on, as far as it can tell (undefined before it listens). */
  address: string | undefined;
  startedAt: string;
  /** When this report was written (the node's clock). */
  reportedAt: string;
  ready: boolean;
  checks: Record<string, string>;
  connections: number;
}

/** A node that has not reported for this long is down. */
export const NODE_STALE_MS = 15_000;
const KEEP_SECONDS = 3600;
const EVERY_MS = 5000;

const keys = (prefix: string) => ({
  index: `${prefix}:registry`,
  node: (id: string) => `${prefix}:registry:${id}`,
});

export interface NodeRegistry {
  /** Writes a report now (also done every few seconds). */
  report(): Promise<void>;
  /** Removes this node's report (a clean shutdown). */
  stop(): Promise<void>;
}

export function startNodeRegistry(
  redis: Redis,
  opts: {
    prefix: string;
    id: string;
    /** The node's state at this moment. */
    state(): Promise<{
      ready: boolean;
      checks: Record<string, string>;
      connections: number;
      /** Where the server listens (undefined before it does). */
      listening: { address: string; port: number } | undefined;
    }>;
    onError(err: unknown): void;
    everyMs?: number;
  },
): NodeRegistry {
  const k = keys(opts.prefix);
  const startedAt = new Date().toISOString();
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  async function report() {
    const state = await opts.state();
    const body: NodeReport = {
      id: opts.id,
      hostname: os.hostname(),
      pid: process.pid,
      address: state.listening ? urlOf(state.listening) : undefined,
      startedAt,
      reportedAt: new Date().toISOString(),
      ready: state.ready,
      checks: state.checks,
      connections: state.connections,
    };
    if (stopped) return;
    await redis
      .multi()
      .set(k.node(opts.id), JSON.stringify(body), 'EX', KEEP_SECONDS)
      .zadd(k.index, Date.now(), opts.id)
      .zremrangebyscore(k.index, '-inf', Date.now() - KEEP_SECONDS * 1000)
      .exec();
  }
  const beat = () => {
    running = report().catch(opts.onError);
    return running;
  };
  const timer = setInterval(() => void beat(), opts.everyMs ?? EVERY_MS);
  timer.unref();
  void beat();
  return {
    report: beat,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await redis.multi().del(k.node(opts.id)).zrem(k.index, opts.id).exec();
    },
  };
}

/** Every node that reported in the last hour, newest report first. */
export async function readNodes(redis: Redis, prefix: string): Promise<NodeReport[]> {
  const k = keys(prefix);
  const ids = await redis.zrevrange(k.index, 0, 999);
  if (ids.length === 0) return [];
  const bodies = await redis.mget(ids.map(k.node));
  return bodies.flatMap((body) => (body ? [JSON.parse(body) as NodeReport] : []));
}

/** The URL others reach the node at: its listening address, or this host's own on a wildcard. */
function urlOf({ address, port }: { address: string; port: number }): string {
  const host = ['0.0.0.0', '::', ''].includes(address) ? ownAddress() : address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The first non-internal IPv4 address of this host (a pod's IP), else loopback. */
function ownAddress(): string {
  for (const list of Object.values(os.networkInterfaces()))
    for (const net of list ?? []) if (net.family === 'IPv4' && !net.internal) return net.address;
  return '127.0.0.1';
}
