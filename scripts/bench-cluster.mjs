#!/usr/bin/env node
/**
 * `npm run bench:cluster`: Parley scaled out, one node against three, on one PostgreSQL
 * database and one Redis, driven by the load tester (tools/, parley-load) with one --url
 * per node.
 *
 * For each configuration (first ONE node, then THREE): a fresh PostgreSQL database
 * `parley_cluster_<random>` on DATABASE_URL's server (default the local one), dropped
 * afterwards, and a fresh key prefix `parley-cluster-<random>` on REDIS_URL's Redis
 * (default the local one), whose keys are deleted afterwards. The nodes are separate
 * server processes on their own loopback ports with the same DATABASE_URL, REDIS_URL,
 * REDIS_KEY_PREFIX and JWT_SECRET. The same scenario runs against each: 500 users × 2
 * devices (device k of user n on node (n + k) mod N, so with three nodes a user's two
 * devices sit on different nodes), groups of 10 and direct chats; two fixed rates, each
 * with quiet windows around it (--idle-gap) in which the counters are read; then a ramp
 * to the highest rate that keeps p99 ≤ 100 ms with nothing lost.
 *
 * Per fixed rate: p50/p99, and what a message costs: the nodes' CPU (/proc), PostgreSQL's
 * statements (the nodes' GET /metrics, added up), commits and rows (pg_stat_database of
 * the bench database), and Redis's commands by name and CPU (`INFO commandstats`, `INFO
 * cpu`: the whole Redis server, other clients included; its rate while idle is reported
 * beside it).
 *
 * The results replace the `cluster` section of specs/benchmarks.md. `--quick` runs a small
 * version (100 users, short phases, short quiet windows) to check the script; it writes
 * artifacts/bench/ only.
 *
 * Exit code: 0 both configurations ran with every device connected to the end, every
 * delivery of the fixed rates in time (by 5 s after the phase), nothing lost and nothing
 * duplicated; 1 one of those failed (the numbers are still written); 2 it could not run.
 * Every wait has a deadline; everything started is stopped at the end, on an error and on
 * Ctrl+C.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createProbe, difference, machineBusy, sampleAtOrBefore, serverPid } from './lib/probe.mjs';
import { closingLines, commitLabel, writeSection } from './lib/report.mjs';
import {
  createCleanups,
  freePort,
  freshDatabase,
  freshRedisPrefix,
  root,
  startServer,
} from './lib/run-server.mjs';

let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    options: { quick: { type: 'boolean' } },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  console.error(`bench:cluster: ${err.message}; options: --quick`);
  process.exit(2);
}
const quick = args.quick === true;

const DATABASE_URL = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
for (const [name, url] of [
  ['DATABASE_URL', DATABASE_URL],
  ['REDIS_URL', REDIS_URL],
]) {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (!/^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host)) {
    console.error(`bench:cluster: ${name} must be on this machine (loopback), got ${host}`);
    process.exit(2);
  }
}

/** One node, then three. */
const CONFIGS = [
  { id: '1-node', nodes: 1, title: '1 node' },
  { id: '3-nodes', nodes: 3, title: '3 nodes' },
];
/** The per-user send limit is raised, as in the held scenarios of `npm run bench`: it is not what is measured. */
const SERVER_ENV = { SEND_RATE_PER_SECOND: '1000', SEND_BURST: '100000' };

/**
 * The scenario. PostgreSQL reports a backend's commits and tuples up to 10 s late (it
 * flushes its statistics at most once a second, an idle backend after up to 10 s), so the
 * quiet windows around the fixed rates are 12 s; a quick run uses short ones and says so.
 */
const scenario = quick
  ? {
      users: 100,
      devices: 2,
      fixed: [
        { rate: 25, duration: 4 },
        { rate: 50, duration: 4 },
      ],
      idleGap: 3,
      rampStart: 50,
      rampSteps: 3,
      rampStepDuration: 3,
    }
  : {
      users: 500,
      devices: 2,
      // A low rate, and one near where a single node with Redis starts to fall behind.
      fixed: [
        { rate: 50, duration: 15 },
        { rate: 150, duration: 15 },
      ],
      idleGap: 12,
      rampStart: 100,
      rampSteps: 6,
      rampStepDuration: 5,
    };
const shape = {
  groupSize: 10,
  directShare: 0.3,
  messageSize: 100,
  rampFactor: 1.5,
  rampRefine: 2,
  rampP99Ms: 100,
  rampMaxRate: 3000,
  drain: 5,
};
/** Everything, start to cleanup; the phases add up to well under it. */
const RUN_BUDGET_MS = quick ? 240_000 : 480_000;
/** Busier than this (100 = one core) before a configuration, wait up to QUIET_WAIT_MS. */
const QUIET_PERCENT = 25;
const QUIET_WAIT_MS = quick ? 5_000 : 20_000;

const outDir = path.join(root, 'artifacts', 'bench');
const docPath = path.join(root, 'specs', 'benchmarks.md');
const { cleanups, cleanup, closing, scope } = createCleanups();
/** Throws once cleanup has begun, so nothing is started that the cleanup would miss. */
const checkNotStopping = () => {
  if (closing()) throw new Error('stopping');
};
const started = Date.now();
const say = (line) => console.log(`[bench:cluster ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);

/** Waits (a bounded while) for the machine to be quiet; returns how busy it was and the load average. */
async function quietMachine(maxWaitMs) {
  let busy = await machineBusy(3_000);
  for (let waited = 0; busy > QUIET_PERCENT && waited < maxWaitMs; waited += 5_000) {
    say(`the machine is ${busy.toFixed(0)} % busy (100 = one core); waiting for it to quieten`);
    busy = await machineBusy(5_000);
  }
  const load = os.loadavg()[0].toFixed(2);
  say(`the machine is ${busy.toFixed(0)} % busy, load average ${load}`);
  if (busy > QUIET_PERCENT) say('warning: other work is running on this machine; the numbers will be noisy');
  return { busyPercent: busy, load };
}

/** Runs parley-load with `toolArgs`; on cleanup (Ctrl+C, an error) it is stopped, and waited for. */
function runLoadTest(toolArgs) {
  const argv = [path.join(root, 'tools', 'bin', 'parley-load.mjs'), ...toolArgs.map(String)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    let exited = false;
    child.on('exit', (code) => {
      exited = true;
      resolve(code ?? 2);
    });
    child.on('error', reject);
    cleanups.push(
      () =>
        new Promise((done) => {
          if (exited) return done();
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(kill);
            done();
          });
          child.kill('SIGINT');
        }),
    );
  });
}

/**
 * N nodes on one database and one Redis prefix: the first alone (it applies the
 * migrations), then the others together. Resolves with `[{ base, pid, output }]`.
 */
async function startNodes(n, sc, { databaseUrl, redisPrefix, jwtSecret }) {
  const env = {
    NODE_ENV: 'production',
    JWT_SECRET: jwtSecret,
    REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    ...SERVER_ENV,
  };
  const startOne = async (i) => {
    checkNotStopping();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-cluster-'));
    sc.list.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const server = await startServer({ port, dataDir, databaseUrl, env, cleanups: sc.list });
    const pid = await serverPid(server.pid);
    say(`node ${i + 1}/${n} up at ${server.base} (pid ${pid})`);
    return { ...server, pid };
  };
  const first = await startOne(0);
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startOne(i + 1)));
  return [first, ...rest];
}

function readReport(reportPath, code, nodes) {
  if (!existsSync(reportPath)) {
    const tail = nodes.flatMap((n, i) => n.output.slice(-10).map((l) => `node ${i + 1}: ${l}`)).join('\n');
    throw new Error(
      `the load test wrote no report (exit ${code})${tail ? `\n--- server output ---\n${tail}` : ''}`,
    );
  }
  return JSON.parse(readFileSync(reportPath, 'utf8'));
}

/** One configuration from fresh database to cleanup; returns what the section needs. */
async function runConfig(config, before) {
  checkNotStopping();
  const sc = scope();
  try {
    const databaseUrl = await freshDatabase('parley_cluster', sc.list, DATABASE_URL);
    checkNotStopping();
    const database = new URL(databaseUrl).pathname.slice(1);
    const redis = await freshRedisPrefix(REDIS_URL, 'parley-cluster', sc.list);
    checkNotStopping();
    say(`${config.title}: database ${database}, Redis prefix ${redis.prefix}`);
    const nodes = await startNodes(config.nodes, sc, {
      databaseUrl,
      redisPrefix: redis.prefix,
      jwtSecret: randomBytes(32).toString('hex'),
    });
    const probe = createProbe({
      nodes: nodes.map((n) => ({ base: n.base, pid: n.pid })),
      pg: { url: DATABASE_URL, database },
      redis: { url: REDIS_URL },
    });
    sc.list.push(() => probe.stop());
    await probe.start(1_000);
    checkNotStopping();

    const name = `${quick ? 'quick-' : ''}cluster-${config.id}`;
    const reportPath = path.join(outDir, `${name}.json`);
    const htmlPath = path.join(outDir, `${name}.html`);
    rmSync(reportPath, { force: true });
    const [a, b] = scenario.fixed;
    say(
      `${config.title}: ${scenario.users} users × ${scenario.devices} devices; ${a.rate}/s for ${a.duration} s, ` +
        `${b.rate}/s for ${b.duration} s, then the ramp from ${scenario.rampStart}/s`,
    );
    const code = await runLoadTest([
      ...nodes.flatMap((n) => ['--url', n.base]),
      ...['--users', scenario.users, '--devices', scenario.devices, '--group-size', shape.groupSize],
      ...['--direct-share', shape.directShare, '--message-size', shape.messageSize],
      // The steady phase is the first fixed rate, the "spike" the second: both fixed, both measured.
      ...['--rate', a.rate, '--duration', a.duration, '--spike-rate', b.rate, '--spike-duration', b.duration],
      ...['--ramp', '--ramp-start', scenario.rampStart, '--ramp-factor', shape.rampFactor],
      ...['--ramp-steps', scenario.rampSteps, '--ramp-step-duration', scenario.rampStepDuration],
      ...[
        '--ramp-refine',
        shape.rampRefine,
        '--ramp-p99-ms',
        shape.rampP99Ms,
        '--ramp-max-rate',
        shape.rampMaxRate,
      ],
      ...['--drain', shape.drain, '--idle-gap', scenario.idleGap, '--min-delivery', '100%', '--quiet'],
      ...['--out', reportPath, '--html', htmlPath],
    ]);
    await probe.stop();
    checkNotStopping();
    const report = readReport(reportPath, code, nodes);
    const t0 = Date.parse(report.startedAt);
    const fixed = report.phases.filter((p) => p.kind !== 'ramp-step');
    const gapMs = scenario.idleGap * 1000;
    const phases = fixed.map((phase) => {
      const from = t0 + phase.startedAtMs;
      // The tool holds still for idleGap after the phase: the last sample in that window.
      const to = t0 + phase.endedAtMs + gapMs - 300;
      const s0 = sampleAtOrBefore(probe.samples, from);
      const s1 = sampleAtOrBefore(probe.samples, to);
      const end = sampleAtOrBefore(probe.samples, t0 + phase.endedAtMs);
      return {
        phase,
        cost: s0 && s1 && s1.at > s0.at ? difference(s0, s1) : undefined,
        during: s0 && end && end.at > s0.at ? difference(s0, end) : undefined,
        perNodeCpu: perNodeCpu(s0, end),
      };
    });
    // The second half of the quiet window before the first phase: the idle cluster (and the
    // rest of the machine's Redis traffic).
    const first = fixed[0];
    let idle;
    if (first) {
      const from = t0 + first.startedAtMs;
      const i0 = sampleAtOrBefore(probe.samples, from - gapMs / 2);
      const i1 = sampleAtOrBefore(probe.samples, from);
      idle = i0 && i1 && i1.at > i0.at ? difference(i0, i1) : undefined;
    }
    await sc.close();
    const result = { config, report, phases, idle, before, code, name, redisKeysDeleted: redis.deleted() };
    say(`${config.title}: ${verdicts(result).every((v) => v.ok) ? 'every check passed' : 'checks failed'}`);
    return result;
  } finally {
    await sc.close();
  }
}

/** Each node's CPU % (100 = one core) between two probe samples. */
function perNodeCpu(a, b) {
  if (!a?.nodes || !b?.nodes || b.at <= a.at) return undefined;
  const s = (b.at - a.at) / 1000;
  return a.nodes.map((n, i) =>
    n.cpuSeconds === undefined || b.nodes[i]?.cpuSeconds === undefined
      ? undefined
      : ((b.nodes[i].cpuSeconds - n.cpuSeconds) / s) * 100,
  );
}

/**
 * Deliveries still missing when the run ended: every phase's missing ones (ramp steps
 * included) less those that arrived after their phase's drain (late, not counted as
 * received), plus sends that failed.
 */
function lostForGood(report) {
  const missing = report.phases.reduce((n, p) => n + p.counts.missing, 0);
  const failed = report.phases.reduce(
    (n, p) => n + p.counts.notSent + p.counts.rejected + p.counts.unanswered,
    0,
  );
  return Math.max(0, missing - report.lateDeliveries) + failed;
}

/** Correctness of one configuration: every device connected and stayed, nothing lost or duplicated. */
function verdicts(r) {
  const c = r.report.connections;
  const v = [
    {
      label: `${r.config.title}: every device connected and stayed`,
      ok: c.opened === c.attempted && c.failed === 0 && c.closedDuringRun === 0,
    },
  ];
  v.push({
    label: `${r.config.title}: nothing lost for good`,
    ok: lostForGood(r.report) === 0,
  });
  for (const { phase } of r.phases) {
    const k = phase.counts;
    v.push({
      label: `${r.config.title} at ${phase.rate}/s: everything delivered in time`,
      ok: k.missing === 0 && k.notSent + k.rejected + k.unanswered === 0 && k.received === k.expected,
    });
    v.push({
      label: `${r.config.title} at ${phase.rate}/s: nothing duplicated`,
      ok: k.duplicates === 0 && k.unexpected === 0,
    });
  }
  return v;
}

const f1 = (n) => (n === undefined || n === null || Number.isNaN(n) ? '—' : n.toFixed(1));
const f2 = (n) => (n === undefined || n === null || Number.isNaN(n) ? '—' : n.toFixed(2));
const ms = (n) => (n === undefined || n === null ? '—' : `${n.toFixed(1)} ms`);
const int = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const mark = (ok) => (ok ? '✅' : '❌');

/** Per-message figures of one fixed phase (undefined where not measured). */
function figures({ phase, cost, during }) {
  const sent = phase.counts.sent;
  const per = (n) => (n === undefined || !sent ? undefined : n / sent);
  const byCommand = Object.entries(cost?.redis?.byCommand ?? {})
    .map(([name, n]) => [name, n / sent])
    .sort((x, y) => y[1] - x[1]);
  return {
    nodesCpuMs: per(cost?.cpuSeconds === undefined ? undefined : cost.cpuSeconds * 1000),
    pgCpuMs: per(cost?.postgresCpuSeconds === undefined ? undefined : cost.postgresCpuSeconds * 1000),
    redisCpuMs: per(cost?.redis?.cpuSeconds === undefined ? undefined : cost.redis.cpuSeconds * 1000),
    redisCommands: per(cost?.redis?.commands),
    redisByCommand: byCommand,
    redisScripts: per(
      cost?.redis ? (cost.redis.byCommand.evalsha ?? 0) + (cost.redis.byCommand.eval ?? 0) : undefined,
    ),
    redisPublishes: per(cost?.redis ? (cost.redis.byCommand.publish ?? 0) : undefined),
    statements: per(cost?.statements),
    commits: per(cost?.db?.commits),
    inserted: per(cost?.db?.inserted),
    updated: per(cost?.db?.updated),
    deleted: per(cost?.db?.deleted),
    walBytes: per(cost?.db?.walBytes),
    avgBatch: cost?.batches ? cost.batchedSends / cost.batches : undefined,
    nodesCpuPercent:
      during?.cpuSeconds === undefined ? undefined : (during.cpuSeconds / during.seconds) * 100,
    pgCpuPercent:
      during?.postgresCpuSeconds === undefined
        ? undefined
        : (during.postgresCpuSeconds / during.seconds) * 100,
    redisCpuPercent:
      during?.redis?.cpuSeconds === undefined ? undefined : (during.redis.cpuSeconds / during.seconds) * 100,
  };
}

/** The generated `cluster` section of specs/benchmarks.md. */
function renderSection(results, commit, pgVersion, redisVersion) {
  const m = results[0].report.machine;
  const cols = results.flatMap((r) => r.phases.map((p) => ({ r, p, f: figures(p) })));
  const allVerdicts = results.flatMap(verdicts);
  const okOf = (label) => allVerdicts.find((v) => v.label === label)?.ok;
  const lines = [];
  const row = (label, fn) => lines.push(`| ${label} | ${cols.map(fn).join(' | ')} |`);
  lines.push(
    `Run on ${results[0].report.startedAt.slice(0, 16).replace('T', ' ')} UTC · commit ${commit} · ` +
      `${m.cpus} × ${m.cpuModel}, ${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB RAM · ${m.platform} · Node ${m.node}` +
      (quick
        ? ' · **quick run** (short phases and quiet windows: the database counters may be incomplete)'
        : ''),
  );
  lines.push('');
  const pop = results[0].report.population;
  lines.push(
    `PostgreSQL ${pgVersion} and Redis ${redisVersion} on the same machine; for each configuration a fresh ` +
      `database and a fresh \`REDIS_KEY_PREFIX\`, the nodes started with \`NODE_ENV=production\` and default ` +
      `settings except the per-user send limit (\`SEND_RATE_PER_SECOND=${SERVER_ENV.SEND_RATE_PER_SECOND}\`, ` +
      `\`SEND_BURST=${SERVER_ENV.SEND_BURST}\`). Scenario: ${int(pop.users)} users × ${pop.devicesPerUser} devices ` +
      `(device k of user n on node (n + k) mod N), ${pop.groups} groups of ${pop.avgGroupMembers} and ` +
      `${pop.directChats} direct chats, ${Math.round(shape.directShare * 100)} % of messages to direct chats, ` +
      `${shape.messageSize}-character bodies; open-loop schedule; latency from the scheduled send to receipt on ` +
      `every recipient device (the sender's other device included). Each fixed rate is held for ` +
      `${scenario.fixed[0].duration} s with ${scenario.idleGap} s of quiet before and after it, in which the counters are read.`,
  );
  lines.push('');
  lines.push(
    '⚠️ **One machine, two cores.** The three nodes, PostgreSQL, Redis and the load generator all share the same ' +
      'two cores, so three nodes cannot add capacity here: the 3-node figures measure the overhead and the ' +
      'correctness of the scale-out path (every message crosses nodes through Redis), not a cluster on three machines.',
  );
  lines.push('');
  lines.push(`| | ${cols.map(({ r, p }) => `${r.config.title} · ${p.phase.rate} msg/s`).join(' | ')} |`);
  lines.push(`|---|${cols.map(() => '---').join('|')}|`);
  row(
    'machine before the configuration',
    ({ r }) => `${r.before.busyPercent.toFixed(0)} % busy (load ${r.before.load})`,
  );
  row('connections per node: opened / failed / dropped', ({ r }) => {
    const c = r.report.connections;
    const per = c.byUrl.map((u) => `${int(u.opened)}/${u.failed}/${u.closedDuringRun}`).join(' · ');
    return `${per} ${mark(okOf(`${r.config.title}: every device connected and stayed`))}`;
  });
  row('rate held (target / achieved)', ({ p }) => `${p.phase.rate} / ${p.phase.achievedRate} msg/s`);
  row('messages sent / acked / failed', ({ p }) => {
    const c = p.phase.counts;
    return `${int(c.sent)} / ${int(c.acked)} / ${int(c.notSent + c.rejected + c.unanswered)}`;
  });
  row(`deliveries expected / received / missing (${shape.drain} s after the phase)`, ({ r, p }) => {
    const c = p.phase.counts;
    return `${int(c.expected)} / ${int(c.received)} / ${int(c.missing)} ${mark(okOf(`${r.config.title} at ${p.phase.rate}/s: everything delivered in time`))}`;
  });
  row(
    "whole run, ramp included: deliveries after their phase's drain (late) / missing at the end",
    ({ r }) =>
      `${int(r.report.lateDeliveries)} / ${int(lostForGood(r.report))} ${mark(okOf(`${r.config.title}: nothing lost for good`))}`,
  );
  row('duplicates / out of order', ({ r, p }) => {
    const c = p.phase.counts;
    return `${c.duplicates} / ${c.outOfOrder} ${mark(okOf(`${r.config.title} at ${p.phase.rate}/s: nothing duplicated`))}`;
  });
  row('**latency p50 / p99**', ({ p }) => `**${ms(p.phase.latencyMs.p50)} / ${ms(p.phase.latencyMs.p99)}**`);
  row(
    'latency p90 / p99.9 / max',
    ({ p }) => `${ms(p.phase.latencyMs.p90)} / ${ms(p.phase.latencyMs.p999)} / ${ms(p.phase.latencyMs.max)}`,
  );
  row('ack p50 / p99', ({ p }) => `${ms(p.phase.ackLatencyMs.p50)} / ${ms(p.phase.ackLatencyMs.p99)}`);
  row(
    'CPU avg, 100 % = one core: nodes (all) / PostgreSQL / Redis',
    ({ f }) => `${f1(f.nodesCpuPercent)} / ${f1(f.pgCpuPercent)} / ${f1(f.redisCpuPercent)} %`,
  );
  row('CPU per node', ({ p }) => (p.perNodeCpu ? p.perNodeCpu.map((c) => `${f1(c)} %`).join(' · ') : '—'));
  row(
    'CPU per message sent: nodes (all) / PostgreSQL / Redis',
    ({ f }) => `${f2(f.nodesCpuMs)} / ${f2(f.pgCpuMs)} / ${f2(f.redisCpuMs)} ms`,
  );
  row(
    '**Redis commands per message** (as Redis counts them: see below)',
    ({ f }) => `**${f2(f.redisCommands)}**`,
  );
  row(
    '… script calls (`evalsha`, `eval`) / `publish` per message',
    ({ f }) => `${f2(f.redisScripts)} / ${f2(f.redisPublishes)}`,
  );
  row('… by command (per message)', ({ f }) =>
    f.redisByCommand.length
      ? f.redisByCommand
          .slice(0, 6)
          .map(([name, n]) => `\`${name}\` ${f2(n)}`)
          .join(', ')
      : '—',
  );
  row(
    "**PostgreSQL statements per message** (the nodes' `parley_db_statements_total`)",
    ({ f }) => `**${f2(f.statements)}**`,
  );
  row('**PostgreSQL commits per message** (`pg_stat_database`)', ({ f }) => `**${f2(f.commits)}**`);
  row(
    'rows inserted / updated / deleted per message',
    ({ f }) => `${f2(f.inserted)} / ${f2(f.updated)} / ${f2(f.deleted)}`,
  );
  row('WAL bytes per message (cluster-wide)', ({ f }) => int(f.walBytes));
  row('send batches: average size', ({ f }) => f1(f.avgBatch));
  row("idle, per second: Redis commands (whole Redis) / statements / nodes' CPU", ({ r }) => {
    const i = r.idle;
    if (!i) return '—';
    return `${f1((i.redis?.commands ?? NaN) / i.seconds)} / ${f1(i.statements / i.seconds)} / ${f1((i.cpuSeconds / i.seconds) * 1000)} ms`;
  });
  row(
    'load generator CPU / event-loop delay p99',
    ({ p }) => `${f1(p.phase.generator.cpuPercent)} % / ${ms(p.phase.generator.eventLoopDelayP99Ms)}`,
  );
  row('other processes on the machine (CPU)', ({ p, f }) => {
    const other = p.phase.machine?.otherCpuPercent;
    if (other == null) return '—';
    return `${f1(Math.max(0, other - (f.pgCpuPercent ?? 0) - (f.redisCpuPercent ?? 0)))} %`;
  });
  lines.push('');
  lines.push(
    `**Ramp** (steps of ${scenario.rampStepDuration} s from ${scenario.rampStart} msg/s, × ${shape.rampFactor} per ` +
      `passing step, then bisection; at most ${scenario.rampSteps} steps; a step passes with p99 ≤ ${shape.rampP99Ms} ms, ` +
      'no delivery missing and no send failed):',
  );
  lines.push('');
  lines.push('| | highest rate held | first failing step | steps: rate → p99 |');
  lines.push('|---|---|---|---|');
  for (const r of results) {
    const ramp = r.report.ramp;
    if (!ramp) {
      lines.push(`| ${r.config.title} | — | — | (no ramp ran) |`);
      continue;
    }
    const steps = ramp.steps
      .map((s) => `${s.rate} → ${f1(s.p99Ms)} ms${s.passed ? '' : ` ✗ (${s.reason})`}`)
      .join(' · ');
    lines.push(
      `| ${r.config.title} | **${ramp.maxSustainedRate === null ? 'none passed' : `${ramp.maxSustainedRate} msg/s`}** | ` +
        `${ramp.firstFailingRate === null ? '—' : `${ramp.firstFailingRate} msg/s`} (${ramp.stoppedBecause}) | ${steps} |`,
    );
  }
  lines.push('');
  lines.push(
    "Redis figures are the whole Redis server's (`INFO commandstats`, `INFO cpu`): other clients of the same Redis " +
      'count too, so compare them with its idle rate above. Redis counts a script call once and every command the ' +
      'script runs once more (the inbox scripts run `GET`, `EXISTS`, `XINFO STREAM`, `XRANGE`, `XADD` inside), so the ' +
      "commands per message are Redis's work, while the script calls and `publish`es are round trips from the nodes. " +
      "The probe's own `INFO` calls are left out. Out of order: a device got a lower `seq` in a chat after a higher " +
      'one (clients apply by `seq`; it is counted, not judged). ' +
      `Redis keys deleted after each configuration: ${results.map((r) => `${r.config.title} ${int(r.redisKeysDeleted)}`).join(', ')}.`,
  );
  lines.push('');
  const disturbed = cols
    .filter(
      ({ p, f }) =>
        Math.max(
          0,
          (p.phase.machine?.otherCpuPercent ?? 0) - (f.pgCpuPercent ?? 0) - (f.redisCpuPercent ?? 0),
        ) > QUIET_PERCENT,
    )
    .map(
      ({ r, p, f }) =>
        `${r.config.title} at ${p.phase.rate}/s (${f1(Math.max(0, p.phase.machine.otherCpuPercent - (f.pgCpuPercent ?? 0) - (f.redisCpuPercent ?? 0)))} %)`,
    );
  const closing = closingLines({
    disturbed,
    limitPercent: QUIET_PERCENT,
    rivals: 'the generator',
    verdicts: allVerdicts,
    kind: 'goal',
    reports: `Full reports of this run (not committed): ${results.map((r) => `\`artifacts/bench/${r.name}.json\``).join(', ')} (and \`.html\`).`,
  });
  lines.push(...closing.lines);
  return { text: lines.join('\n'), allMet: closing.allMet };
}

async function versions() {
  let pgVersion = '(version unknown)';
  let redisVersion = '(version unknown)';
  try {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: DATABASE_URL });
    await c.connect();
    try {
      pgVersion = (await c.query('SHOW server_version')).rows[0].server_version.split(' ')[0];
    } finally {
      await c.end();
    }
  } catch {
    // left unknown
  }
  try {
    const { Redis } = await import('ioredis');
    const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    await r.connect();
    try {
      redisVersion = /redis_version:(\S+)/.exec(String(await r.call('INFO', 'server')))?.[1] ?? redisVersion;
    } finally {
      r.disconnect();
    }
  } catch {
    // left unknown
  }
  return { pgVersion, redisVersion };
}

/** Where the section goes if specs/benchmarks.md has lost its markers. */
const HEADING = '## Results: several nodes (`npm run bench:cluster`)';

async function main() {
  const budget = setTimeout(() => {
    console.error(`bench:cluster: over the ${RUN_BUDGET_MS / 1000} s budget; aborting`);
    void cleanup().finally(() => process.exit(2));
  }, RUN_BUDGET_MS);
  budget.unref();
  mkdirSync(outDir, { recursive: true });
  const { pgVersion, redisVersion } = await versions();
  say(`PostgreSQL ${pgVersion}, Redis ${redisVersion}${quick ? '; quick run' : ''}`);

  const results = [];
  for (const config of CONFIGS) {
    const before = await quietMachine(QUIET_WAIT_MS);
    checkNotStopping();
    results.push(await runConfig(config, before));
  }
  const { text, allMet } = renderSection(results, commitLabel(), pgVersion, redisVersion);
  writeFileSync(path.join(outDir, `${quick ? 'quick-' : ''}cluster.md`), `${text}\n`);
  if (quick) say('quick run: specs/benchmarks.md left as it is');
  else {
    writeSection(docPath, 'cluster', text, undefined, { appendUnder: HEADING });
    say('wrote the cluster section of specs/benchmarks.md');
  }
  console.log(`\n${text}\n`);
  const ok = allMet && results.every((r) => r.code === 0);
  say(ok ? 'every check passed' : 'some checks failed (see above)');
  return ok ? 0 : 1;
}

let exitCode = 2;
try {
  exitCode = await main();
} catch (err) {
  if (closing()) console.error('bench:cluster: stopped');
  else console.error(`bench:cluster: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
} finally {
  await cleanup();
}
say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(exitCode);
