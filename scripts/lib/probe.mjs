/**
 * Measuring a running server from outside, for the benchmarks (Linux): the server
 * process's CPU and memory from /proc, its Prometheus counters from GET /metrics, and in
 * PostgreSQL mode the database's own statistics (commits, tuples, WAL) and PostgreSQL's
 * CPU; with Redis, the Redis server's commands by name (`INFO commandstats`) and its CPU.
 * Several nodes of a cluster are sampled together and added up. A probe samples all of
 * them on a timer; what one phase cost is the difference between the last sample before
 * it and the last sample before the next step (`sampleAtOrBefore`, `difference`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** `/proc/<pid>/stat` split after the command name: field 3 (state) is [0]. */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = stat.lastIndexOf(')');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), f: stat.slice(close + 2).split(' ') };
}

/**
 * The Node process that runs the server. `startServer` spawns tsx, which runs the server
 * in a child `node` process: that child is the one doing the work.
 */
export async function serverPid(spawnedPid, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const { comm, f } = statFields(pid);
        // Field 4 (ppid) is f[1].
        if (Number(f[1]) === spawnedPid && comm === 'node') return Number(pid);
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // No child: the spawned process runs the server itself.
  return spawnedPid;
}

/** CPU seconds (user + system) the process has used. */
export function processCpuSeconds(pid) {
  const { f } = statFields(pid);
  // utime and stime are fields 14 and 15.
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

/** Resident memory of the process, bytes (VmRSS). */
export function processRssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * CPU seconds used so far by the local PostgreSQL server (every process named postgres,
 * plus what its exited children used). It is the whole PostgreSQL server: other databases
 * on it are included.
 */
export function postgresCpuSeconds() {
  let ticks = 0;
  let found = false;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fields;
    try {
      fields = statFields(pid);
    } catch {
      continue; // gone meanwhile
    }
    if (fields.comm !== 'postgres') continue;
    const { f } = fields;
    // utime, stime, cutime, cstime are fields 14–17.
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    found = true;
  }
  return found ? ticks / CLOCK_TICKS : undefined;
}

/** Is this PostgreSQL URL on this machine (so its processes can be read from /proc)? */
export function isLocalPostgres(url) {
  if (!url || !existsSync('/proc/self/stat')) return false;
  return /^(127\.|localhost$|\[?::1\]?$)/.test(new URL(url).hostname);
}

/** Prometheus text format → Map of `name` or `name{labels}` → value (no timestamps). */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const cut = line.lastIndexOf('}') >= 0 ? line.lastIndexOf('}') + 1 : line.indexOf(' ');
    const value = Number(line.slice(cut).trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) out.set(line.slice(0, cut), value);
  }
  return out;
}

/** A histogram's buckets as [{ le, count }] (cumulative, as Prometheus keeps them). */
function buckets(metrics, name) {
  const list = [];
  for (const [key, count] of metrics) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(key);
    if (m) list.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count });
  }
  return list.sort((a, b) => a.le - b.le);
}

/**
 * `INFO cpu commandstats` → `{ cpuSeconds, calls: { command: count } }`: Redis's own CPU
 * (user + system, its main thread and the rest) and how often each command ran.
 */
export function parseRedisInfo(text) {
  const calls = {};
  let user;
  let sys;
  for (const line of text.split(/\r?\n/)) {
    const stat = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (stat) calls[stat[1]] = Number(stat[2]);
    const cpu = /^used_cpu_(user|sys):([\d.]+)/.exec(line);
    if (cpu) {
      if (cpu[1] === 'user') user = Number(cpu[2]);
      else sys = Number(cpu[2]);
    }
  }
  return { cpuSeconds: user === undefined || sys === undefined ? undefined : user + sys, calls };
}

/** Commands a probe sends itself (and ioredis's ready check): not the servers' work. */
export const PROBE_REDIS_COMMANDS = new Set(['info']);

/** "16/B374D848" → bytes since the start of WAL, as a BigInt. */
export function lsnBytes(lsn) {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** One node's process (/proc) and counters (GET /metrics); fields it could not read stay undefined. */
async function readNode({ base, pid }) {
  const node = {};
  try {
    node.cpuSeconds = processCpuSeconds(pid);
    node.rssBytes = processRssBytes(pid);
  } catch {
    // the process is gone
  }
  try {
    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const m = parseMetrics(await res.text());
    node.metrics = {
      statements: m.get('parley_db_statements_total'),
      batchSum: m.get('parley_send_batch_size_sum'),
      batchCount: m.get('parley_send_batch_size_count'),
      commitSum: m.get('parley_send_commit_seconds_sum'),
      commitCount: m.get('parley_send_commit_seconds_count'),
      commitBuckets: buckets(m, 'parley_send_commit_seconds'),
      heapUsedBytes: m.get('parley_nodejs_heap_size_used_bytes'),
      rssBytes: m.get('parley_process_resident_memory_bytes'),
      wsConnections: m.get('parley_ws_connections'),
      eventsSent: m.get('parley_ws_events_sent_total'),
    };
  } catch {
    // no answer this time
  }
  return node;
}

/**
 * The nodes of a cluster as one: every counter added up, undefined when a node could not
 * be read (a sum missing a node would look like a drop). One node is returned as it is.
 */
export function sumNodes(nodes) {
  if (nodes.length === 1) return nodes[0];
  const add = (values) =>
    values.every((v) => v !== undefined) ? values.reduce((a, b) => a + b, 0) : undefined;
  const out = {
    cpuSeconds: add(nodes.map((n) => n.cpuSeconds)),
    rssBytes: add(nodes.map((n) => n.rssBytes)),
  };
  if (nodes.every((n) => n.metrics)) {
    const metrics = {};
    for (const key of Object.keys(nodes[0].metrics)) {
      if (key === 'commitBuckets') continue;
      metrics[key] = add(nodes.map((n) => n.metrics[key]));
    }
    const lists = nodes.map((n) => n.metrics.commitBuckets);
    metrics.commitBuckets = lists.every((l) => l.length === lists[0].length)
      ? lists[0].map((b, i) => ({ le: b.le, count: add(lists.map((l) => l[i].count)) }))
      : [];
    out.metrics = metrics;
  }
  return out;
}

/**
 * Samples the server (and PostgreSQL, and Redis) every `intervalMs` until stopped.
 * - `base`: the server's URL (GET /metrics); `pid`: its process (serverPid). Or `nodes`:
 *   `[{ base, pid }]`, the nodes of a cluster, added up (each one's reading is kept in
 *   `sample.nodes`).
 * - `pg`: `{ url, database }`: an admin connection (to another database, so the probe's
 *   own queries do not count in the measured one) and the database to read.
 * - `redis`: `{ url }`: the Redis server's commands by name and its CPU. They are the whole
 *   Redis server's: other clients of the same Redis are included.
 */
export function createProbe({ base, pid, nodes: nodeTargets, pg: pgTarget, redis: redisTarget }) {
  const samples = [];
  const targets = nodeTargets ?? [{ base, pid }];
  let client;
  let redis;
  let timer;
  let chain = Promise.resolve();
  const pgLocal = pgTarget && isLocalPostgres(pgTarget.url);

  async function take() {
    const at = Date.now();
    const sample = { at };
    if (pgLocal) sample.postgresCpuSeconds = postgresCpuSeconds();
    const reads = [
      Promise.all(targets.map(readNode)).then((nodes) => {
        Object.assign(sample, sumNodes(nodes));
        if (targets.length > 1) sample.nodes = nodes;
      }),
    ];
    if (redis) {
      reads.push(
        redis
          .call('INFO', 'cpu', 'commandstats')
          .then((text) => {
            sample.redis = parseRedisInfo(String(text));
          })
          .catch(() => undefined),
      );
    }
    if (client) {
      reads.push(
        client
          .query(
            `SELECT xact_commit::text AS commits, xact_rollback::text AS rollbacks,
                    tup_inserted::text AS inserted, tup_updated::text AS updated,
                    tup_deleted::text AS deleted, pg_current_wal_lsn()::text AS lsn
             FROM pg_stat_database WHERE datname = $1`,
            [pgTarget.database],
          )
          .then(({ rows }) => {
            const r = rows[0];
            if (!r) return;
            sample.db = {
              commits: Number(r.commits),
              rollbacks: Number(r.rollbacks),
              inserted: Number(r.inserted),
              updated: Number(r.updated),
              deleted: Number(r.deleted),
              walBytes: lsnBytes(r.lsn),
            };
          })
          .catch(() => undefined),
      );
    }
    await Promise.all(reads);
    samples.push(sample);
    return sample;
  }

  return {
    samples,
    /** One sample now, after any in flight. */
    sample() {
      const next = chain.then(take);
      chain = next.catch(() => undefined);
      return next;
    },
    async start(intervalMs = 1_000) {
      if (pgTarget) {
        const { default: pg } = await import('pg');
        client = new pg.Client({ connectionString: pgTarget.url });
        await client.connect();
      }
      if (redisTarget) {
        const { Redis } = await import('ioredis');
        redis = new Redis(redisTarget.url, {
          lazyConnect: true,
          maxRetriesPerRequest: 1,
          retryStrategy: () => null,
          // No ready check: it would be one more INFO (excluded anyway) before every sample.
          enableReadyCheck: false,
        });
        await redis.connect();
      }
      await this.sample();
      timer = setInterval(() => void this.sample(), intervalMs);
    },
    async stop() {
      clearInterval(timer);
      await this.sample();
      await client?.end().catch(() => undefined);
      client = undefined;
      redis?.disconnect();
      redis = undefined;
    },
  };
}

/** The last sample taken at or before `t` (ms since the epoch). */
export function sampleAtOrBefore(samples, t) {
  return samples.filter((s) => s.at <= t).at(-1);
}

/**
 * What happened between samples `a` and `b`: seconds, CPU seconds of the server and of
 * PostgreSQL, the server's counters and the database's, and the send commits' histogram.
 */
export function difference(a, b) {
  const d = (x, y) => (x === undefined || y === undefined ? undefined : y - x);
  const out = {
    seconds: (b.at - a.at) / 1000,
    cpuSeconds: d(a.cpuSeconds, b.cpuSeconds),
    postgresCpuSeconds: d(a.postgresCpuSeconds, b.postgresCpuSeconds),
    statements: d(a.metrics?.statements, b.metrics?.statements),
    batches: d(a.metrics?.batchCount, b.metrics?.batchCount),
    batchedSends: d(a.metrics?.batchSum, b.metrics?.batchSum),
    commitSeconds: d(a.metrics?.commitSum, b.metrics?.commitSum),
    commitCount: d(a.metrics?.commitCount, b.metrics?.commitCount),
    commitBuckets:
      a.metrics?.commitBuckets && b.metrics?.commitBuckets
        ? b.metrics.commitBuckets.map((x, i) => ({
            le: x.le,
            count: x.count - (a.metrics.commitBuckets[i]?.count ?? 0),
          }))
        : undefined,
    redis: a.redis && b.redis ? redisDifference(a.redis, b.redis) : undefined,
    db:
      a.db && b.db
        ? {
            commits: b.db.commits - a.db.commits,
            rollbacks: b.db.rollbacks - a.db.rollbacks,
            inserted: b.db.inserted - a.db.inserted,
            updated: b.db.updated - a.db.updated,
            deleted: b.db.deleted - a.db.deleted,
            walBytes: Number(b.db.walBytes - a.db.walBytes),
          }
        : undefined,
  };
  return out;
}

/**
 * Redis between two readings: commands in all and by name (the probe's own left out),
 * and Redis's CPU seconds.
 */
export function redisDifference(a, b) {
  const byCommand = {};
  let total = 0;
  for (const [name, calls] of Object.entries(b.calls)) {
    if (PROBE_REDIS_COMMANDS.has(name)) continue;
    const n = calls - (a.calls[name] ?? 0);
    if (n > 0) {
      byCommand[name] = n;
      total += n;
    }
  }
  return {
    commands: total,
    byCommand,
    cpuSeconds:
      a.cpuSeconds === undefined || b.cpuSeconds === undefined ? undefined : b.cpuSeconds - a.cpuSeconds,
  };
}

/** The smallest bucket bound under which `q` (0..1) of the observations fall. */
export function bucketQuantile(list, q) {
  const total = list?.at(-1)?.count ?? 0;
  if (!total) return undefined;
  return list.find((b) => b.count >= q * total)?.le;
}

/** CPU busy on the whole machine over `ms` (100 = one core): others' work competes with a run. */
export async function machineBusy(ms) {
  const read = () =>
    os.cpus().reduce(
      (acc, { times: t }) => {
        const total = t.user + t.nice + t.sys + t.idle + t.irq;
        return { busy: acc.busy + total - t.idle, total: acc.total + total };
      },
      { busy: 0, total: 0 },
    );
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length * 100 : 0;
}

/** CPU seconds every process on the machine has used so far (all cores; os.cpus()). */
export function machineCpuSeconds() {
  return os.cpus().reduce((n, { times: t }) => n + (t.user + t.nice + t.sys + t.irq) / 1000, 0);
}
