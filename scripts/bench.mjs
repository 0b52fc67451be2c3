#!/usr/bin/env node
/**
 * `npm run bench`: the standard benchmark. Starts a fresh server on a free loopback port,
 * runs the standard scenario with the load-test CLI (tools/, parley-load) — 1,000
 * connections, 50 messages/s sustained, a 100 messages/s spike, then the ramp to the
 * highest rate that keeps p99 under 100 ms — and writes the numbers, the scenario, the
 * date and the machine into specs/benchmarks.md.
 *
 * Mode: embedded PGlite in a temporary DATA_DIR; with DATABASE_URL set, PostgreSQL: a fresh
 * database `parley_bench_<random>` on that server, dropped afterwards. Each mode has its
 * own section in specs/benchmarks.md; a run replaces only its own.
 *
 * `npm run bench -- --quick` runs a small version (200 users, short phases) to check the
 * script itself; it writes artifacts/bench/ only, never specs/benchmarks.md.
 *
 * Exit code: 0 every target met, 1 a target missed (the numbers are still written),
 * 2 the benchmark could not run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCleanups, freePort, freshDatabase, root, startServer } from './lib/run-server.mjs';

const quick = process.argv.includes('--quick');
const unknown = process.argv.slice(2).filter((a) => a !== '--quick');
if (unknown.length) {
  console.error(`bench: unknown argument(s) ${unknown.join(' ')}; the only option is --quick`);
  process.exit(2);
}
const mode = process.env.DATABASE_URL ? 'postgres' : 'pglite';
const outDir = path.join(root, 'artifacts', 'bench');
const docPath = path.join(root, 'specs', 'benchmarks.md');
/** Everything, start to cleanup; the phases below add up to well under it. */
const RUN_BUDGET_MS = quick ? 180_000 : 540_000;

/** Busier than this (100 = one core) before the run, the bench waits up to QUIET_WAIT_MS. */
const QUIET_PERCENT = 25;
const QUIET_WAIT_MS = quick ? 10_000 : 120_000;

/** The floor from the load-testing issue. */
const TARGETS = {
  connections: 1000,
  sustainedRate: 50,
  spikeRate: 100,
  avgMs: 100,
  p95Ms: 300,
  p99Ms: 500,
  delivery: 0.999,
};

const scenario = quick
  ? {
      users: 200,
      rate: 50,
      duration: 10,
      spikeRate: 100,
      spikeDuration: 5,
      rampSteps: 3,
      rampStepDuration: 4,
      rampMaxRate: 500,
    }
  : {
      users: TARGETS.connections,
      rate: TARGETS.sustainedRate,
      duration: 60,
      spikeRate: TARGETS.spikeRate,
      spikeDuration: 10,
      rampSteps: 6,
      rampStepDuration: 8,
      // 1 message/s per user at most: the server's per-user limit (5/s) never decides the result.
      rampMaxRate: 1000,
    };
const shape = {
  groupSize: 10,
  directShare: 0.3,
  messageSize: 100,
  rampStart: 50,
  rampFactor: 1.5,
  rampRefine: 2,
  rampP99Ms: 100,
};

/** Everything to undo, in reverse order, however the run ends. */
const { cleanups, cleanup } = createCleanups();

const started = Date.now();
const say = (line) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);

/**
 * CPU seconds used so far by the local PostgreSQL server (Linux /proc; every process named
 * postgres, plus what its exited children used). In PostgreSQL mode this is part of the
 * server's cost, and it would otherwise count as "other processes". It is the whole
 * PostgreSQL server: other databases on it are included.
 */
function postgresCpuSeconds() {
  let ticks = 0;
  let found = false;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    // After "pid (comm) ": state is field 3; utime, stime, cutime, cstime are fields 14–17.
    const f = stat.slice(close + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    found = true;
  }
  return found ? ticks / CLOCK_TICKS : undefined;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Samples postgresCpuSeconds every second while the load test runs (local PostgreSQL on Linux only). */
function samplePostgresCpu() {
  const samples = [];
  const local =
    mode === 'postgres' && /^(127\.|localhost$|\[?::1\]?$)/.test(new URL(process.env.DATABASE_URL).hostname);
  if (!local || !existsSync('/proc/self/stat')) return { samples, stop: () => undefined };
  const take = () => {
    const cpu = postgresCpuSeconds();
    if (cpu !== undefined) samples.push({ at: Date.now(), cpu });
  };
  take();
  const timer = setInterval(take, 1_000);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      take();
    },
  };
}

/** PostgreSQL CPU over a phase (100 = one core), anchored on the samples around it. */
function postgresPercent(samples, report, phase) {
  const from = Date.parse(report.startedAt) + phase.startedAtMs;
  const to = Date.parse(report.startedAt) + phase.endedAtMs;
  const a = samples.filter((s) => s.at <= from).at(-1);
  const b = samples.find((s) => s.at >= to);
  if (!a || !b || b.at <= a.at) return undefined;
  return ((b.cpu - a.cpu) / ((b.at - a.at) / 1000)) * 100;
}

/** Runs parley-load; its progress (stderr) and summary (stdout) show as they come. */
function runLoadTest(base, reportPath, htmlPath) {
  const args = [
    path.join(root, 'tools', 'bin', 'parley-load.mjs'),
    ...['--url', base, '--users', scenario.users, '--rate', scenario.rate, '--duration', scenario.duration],
    ...['--spike-rate', scenario.spikeRate, '--spike-duration', scenario.spikeDuration],
    ...[
      '--group-size',
      shape.groupSize,
      '--direct-share',
      shape.directShare,
      '--message-size',
      shape.messageSize,
    ],
    ...[
      '--ramp',
      '--ramp-start',
      shape.rampStart,
      '--ramp-factor',
      shape.rampFactor,
      '--ramp-max-rate',
      scenario.rampMaxRate,
    ],
    ...['--ramp-steps', scenario.rampSteps, '--ramp-step-duration', scenario.rampStepDuration],
    ...['--ramp-refine', shape.rampRefine, '--ramp-p99-ms', shape.rampP99Ms, '--drain', 5],
    ...['--max-avg-ms', TARGETS.avgMs, '--max-p95-ms', TARGETS.p95Ms, '--max-p99-ms', TARGETS.p99Ms],
    ...['--min-delivery', TARGETS.delivery, '--out', reportPath, '--html', htmlPath],
  ].map(String);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    let exited = false;
    child.on('exit', (code) => {
      exited = true;
      resolve(code ?? 2);
    });
    child.on('error', reject);
    cleanups.push(() => {
      if (!exited) child.kill('SIGINT');
    });
  });
}

function gitState() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'backend', 'contracts', 'prisma'], {
      cwd: root,
    })
      .toString()
      .trim();
    return { commit, dirty: dirty.length > 0 };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

const f1 = (n) => (n === undefined || n === null ? '—' : n.toFixed(1));
const mark = (ok) => (ok ? '✅' : '❌');
const int = (n) => n.toLocaleString('en-US');

/** The generated section of specs/benchmarks.md for this mode. */
function renderSection(report, git, serverDescription, reportName, before) {
  const steady = report.phases.find((p) => p.kind === 'steady');
  const spike = report.phases.find((p) => p.kind === 'spike');
  const fixed = [steady, spike].filter(Boolean);
  const pgMeasured = report.phases.some((p) => p.postgresCpuPercent !== undefined);
  // Without its own measurement, PostgreSQL's CPU is part of "other processes".
  const pgIncluded = mode === 'postgres' && !pgMeasured ? ', PostgreSQL included' : '';
  const c = report.connections;
  const m = report.machine;
  const peakSockets = Math.max(0, ...report.server.samples.map((s) => s.wsConnections ?? 0));
  const connectionsOk = c.opened >= TARGETS.connections && c.failed === 0 && c.closedDuringRun === 0;
  const verdicts = [];
  const col = (fn) => fixed.map(fn).join(' | ');
  const check = (label, value, ok) => {
    verdicts.push({ label, ok });
    return `${value} ${mark(ok)}`;
  };
  const latencyRow = (label, key, limit) =>
    `| ${label} | < ${limit} ms | ${col((p) => check(`${label} ${p.name}`, `${f1(p.latencyMs[key])} ms`, p.latencyMs.count > 0 && p.latencyMs[key] < limit))} |`;
  const lines = [];
  lines.push(
    `Run on ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC · commit \`${git.commit}\`${git.dirty ? ' with uncommitted changes in backend/contracts/prisma' : ''} · ` +
      `${m.cpus} × ${m.cpuModel}, ${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB RAM · ${m.platform} · Node ${m.node}`,
  );
  lines.push('');
  lines.push(
    `Server: ${serverDescription}, \`NODE_ENV=production\`, default limits and log level, on the same machine as ` +
      `the load generator. Scenario: ${int(report.population.users)} users × ${report.population.devicesPerUser} ` +
      `connection; ${report.population.groups} groups of ${report.population.avgGroupMembers} and ` +
      `${report.population.directChats} direct chats; ${Math.round(report.options.directShare * 100)} % of messages ` +
      `to direct chats; ${report.options.messageSize}-character messages; open-loop schedule; latency from the ` +
      `scheduled send to receipt on every recipient device. Preparation: ${int(report.population.users)} ` +
      `registrations in ${report.population.registerS} s, chats in ${report.population.chatsS} s. ` +
      `Before the run the machine was ${before.busyPercent.toFixed(0)} % busy (100 = one core; load average ${before.load}).`,
  );
  lines.push('');
  lines.push(`| | target | ${fixed.map((p) => `${p.name} for ${p.durationS} s`).join(' | ')} |`);
  lines.push(`|---|---|${fixed.map(() => '---').join('|')}|`);
  lines.push(
    `| concurrent connections | ${int(TARGETS.connections)} | ${check('connections', `${int(c.opened)} opened, ${c.failed} failed, ${c.closedDuringRun} dropped; server counted ${int(peakSockets)} open sockets`, connectionsOk)} |${fixed.length > 1 ? ' |'.repeat(fixed.length - 1) : ''}`,
  );
  lines.push(`| messages sent / acked | | ${col((p) => `${int(p.counts.sent)} / ${int(p.counts.acked)}`)} |`);
  lines.push(
    `| deliveries expected / received | | ${col((p) => `${int(p.counts.expected)} / ${int(p.counts.received)}`)} |`,
  );
  lines.push(
    `| delivered | ≥ ${TARGETS.delivery * 100} % | ${col((p) => check(`delivery ${p.name}`, `${((p.deliveryRatio ?? 0) * 100).toFixed(3)} %`, (p.deliveryRatio ?? 0) >= TARGETS.delivery))} |`,
  );
  lines.push(
    `| duplicates / out of order | | ${col((p) => `${p.counts.duplicates} / ${p.counts.outOfOrder}`)} |`,
  );
  lines.push(latencyRow('avg latency', 'avg', TARGETS.avgMs));
  lines.push(`| p50 | | ${col((p) => `${f1(p.latencyMs.p50)} ms`)} |`);
  lines.push(`| p90 | | ${col((p) => `${f1(p.latencyMs.p90)} ms`)} |`);
  lines.push(latencyRow('p95', 'p95', TARGETS.p95Ms));
  lines.push(latencyRow('p99', 'p99', TARGETS.p99Ms));
  lines.push(`| p99.9 / max | | ${col((p) => `${f1(p.latencyMs.p999)} / ${f1(p.latencyMs.max)} ms`)} |`);
  lines.push(
    `| ack p50 / p99 | | ${col((p) => `${f1(p.ackLatencyMs.p50)} / ${f1(p.ackLatencyMs.p99)} ms`)} |`,
  );
  lines.push(
    `| server CPU avg / max (100 % = one core) | | ${col((p) => `${f1(p.server?.cpuPercentAvg)} / ${f1(p.server?.cpuPercentMax)} %`)} |`,
  );
  if (pgMeasured) {
    lines.push(
      `| PostgreSQL CPU avg (whole database server) | | ${col((p) => `${f1(p.postgresCpuPercent)} %`)} |`,
    );
  }
  lines.push(
    `| server RSS max | | ${col((p) => (p.server?.rssMaxBytes ? `${(p.server.rssMaxBytes / 1048576).toFixed(0)} MiB` : '—'))} |`,
  );
  lines.push(
    `| server event-loop lag p99, worst sample (prom-client; includes its 10 ms sampling) | | ${col((p) => `${f1(p.server?.eventLoopLagP99MaxMs)} ms`)} |`,
  );
  lines.push(
    `| load generator CPU / event-loop delay p99 | | ${col((p) => `${f1(p.generator.cpuPercent)} % / ${f1(p.generator.eventLoopDelayP99Ms)} ms`)} |`,
  );
  lines.push(
    `| other processes on the machine (CPU${pgIncluded}) | | ${col((p) => (p.machine?.otherCpuPercent == null ? '—' : `${f1(p.machine.otherCpuPercent)} %`))} |`,
  );
  lines.push('');
  const frames = report.connections.framesByType;
  const totalFrames = Object.values(frames).reduce((a, b) => a + b, 0);
  lines.push(
    `Event frames received by all devices over the run: ${int(totalFrames)} (` +
      Object.entries(frames)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `\`${k}\` ${int(v)}`)
        .join(', ') +
      ').',
  );
  lines.push('');
  if (report.ramp) {
    const r = report.ramp;
    lines.push(
      `**Ramp** (steps of ${report.options.rampStepDuration} s; a step passes with p99 ≤ ${r.config.p99BoundMs} ms, ` +
        `no delivery missing and no send failed): highest sustained rate ` +
        `**${r.maxSustainedRate === null ? 'none passed' : `${r.maxSustainedRate} messages/s`}**` +
        `${r.firstFailingRate === null ? '' : `; first failing step ${r.firstFailingRate} messages/s`} (${r.stoppedBecause}).`,
    );
    lines.push('');
    lines.push(
      `| step | rate (msg/s) | p99 (ms) | missing | failed sends | server CPU avg |${pgMeasured ? ' PostgreSQL CPU |' : ''} other processes CPU${pgIncluded} | result |`,
    );
    lines.push(`|---|---|---|---|---|---|---|${pgMeasured ? '---|' : ''}---|`);
    const rampPhases = report.phases.filter((p) => p.kind === 'ramp-step');
    r.steps.forEach((s, i) => {
      const p = rampPhases[i];
      lines.push(
        `| ${i + 1} | ${s.rate} | ${f1(s.p99Ms)} | ${s.missing} | ${s.failedSends} | ${f1(p?.server?.cpuPercentAvg)} % |${pgMeasured ? ` ${f1(p?.postgresCpuPercent)} % |` : ''} ${f1(p?.machine?.otherCpuPercent)} % | ${s.passed ? 'pass' : `fail: ${s.reason}`} |`,
      );
    });
    lines.push('');
  }
  // Unmeasured, PostgreSQL's own processes are "other" too; then flag only what is clearly beyond them.
  const otherLimit = mode === 'postgres' && !pgMeasured ? 60 : 25;
  const disturbed = report.phases.filter((p) => (p.machine?.otherCpuPercent ?? 0) > otherLimit);
  if (disturbed.length) {
    lines.push(
      `⚠️ Other processes on the machine${mode === 'postgres' && !pgMeasured ? ' (PostgreSQL included)' : ''} used more than ${otherLimit} % of a core during ${disturbed.map((p) => `${p.name} (${f1(p.machine.otherCpuPercent)} %)`).join(', ')}: ` +
        'they competed with the server and the generator for the same cores, so those numbers are pessimistic.',
    );
    lines.push('');
  }
  const missed = verdicts.filter((v) => !v.ok);
  lines.push(
    missed.length ? `**Targets missed:** ${missed.map((v) => v.label).join('; ')}.` : '**Every target met.**',
  );
  lines.push('');
  lines.push(
    `Full reports of this run (not committed): \`artifacts/bench/${reportName}.json\` and \`artifacts/bench/${reportName}.html\`.`,
  );
  return { text: lines.join('\n'), allMet: missed.length === 0 };
}

const TEMPLATE = `# Benchmarks

Generated sections are replaced by \`npm run bench\`; edit only outside the markers.

<!-- bench:pglite:start -->
_Not run yet._
<!-- bench:pglite:end -->

<!-- bench:postgres:start -->
_Not run yet._
<!-- bench:postgres:end -->
`;

function writeSection(text) {
  const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : TEMPLATE;
  const start = `<!-- bench:${mode}:start -->`;
  const end = `<!-- bench:${mode}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`specs/benchmarks.md has no ${start} … ${end} markers`);
  writeFileSync(docPath, `${doc.slice(0, i + start.length)}\n${text}\n${doc.slice(j)}`);
}

/** CPU busy on the whole machine over `ms` (100 = one core): others' work competes with the run. */
async function machineBusy(ms) {
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

async function main() {
  const budget = setTimeout(() => {
    console.error(`bench: over the ${RUN_BUDGET_MS / 1000} s budget; aborting`);
    void cleanup().finally(() => process.exit(2));
  }, RUN_BUDGET_MS);
  budget.unref();

  // On a shared machine, wait (a bounded while) for other work to finish: it competes for
  // the same cores and would make the numbers pessimistic.
  let idle = await machineBusy(3_000);
  for (let waited = 0; idle > QUIET_PERCENT && waited < QUIET_WAIT_MS; waited += 5_000) {
    say(`the machine is ${idle.toFixed(0)} % busy (100 = one core); waiting for it to quieten`);
    idle = await machineBusy(5_000);
  }
  const load = os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ');
  say(`before the run the machine is ${idle.toFixed(0)} % busy, load average ${load}`);
  if (idle > QUIET_PERCENT)
    say('warning: other work is running on this machine; the numbers will be pessimistic');

  mkdirSync(outDir, { recursive: true });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const databaseUrl = await freshDatabase('parley_bench', cleanups);
  const port = await freePort();
  say(
    `starting the server (${mode === 'postgres' ? 'PostgreSQL, fresh database' : 'PGlite in a temporary DATA_DIR'})`,
  );
  const { base, output } = await startServer({
    port,
    dataDir,
    databaseUrl,
    cleanups,
    // Production, as operators run it: a real secret, default limits and log level.
    env: { NODE_ENV: 'production', JWT_SECRET: randomBytes(32).toString('hex') },
  });
  say(`server up at ${base}; running the load test${quick ? ' (quick)' : ''}`);

  const name = quick ? `quick-${mode}` : mode;
  const reportPath = path.join(outDir, `${name}.json`);
  const htmlPath = path.join(outDir, `${name}.html`);
  rmSync(reportPath, { force: true });
  const pgCpu = samplePostgresCpu();
  const code = await runLoadTest(base, reportPath, htmlPath);
  pgCpu.stop();
  if (!existsSync(reportPath)) {
    const tail = output.slice(-30).join('\n');
    throw new Error(
      `the load test wrote no report (exit ${code})${tail ? `\n--- server output ---\n${tail}` : ''}`,
    );
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  // Move PostgreSQL's share out of "other processes": it is the server's.
  for (const p of report.phases) {
    p.postgresCpuPercent = pgCpu.samples.length ? postgresPercent(pgCpu.samples, report, p) : undefined;
    if (p.postgresCpuPercent !== undefined && p.machine?.otherCpuPercent != null) {
      p.machine.otherCpuPercent = Math.max(0, p.machine.otherCpuPercent - p.postgresCpuPercent);
    }
  }
  const serverDescription =
    mode === 'postgres'
      ? `PostgreSQL ${await postgresVersion()} on the same machine (fresh database)`
      : 'embedded PGlite (temporary DATA_DIR)';
  const before = { busyPercent: idle, load };
  const { text, allMet } = renderSection(report, gitState(), serverDescription, name, before);
  if (quick) say('quick run: specs/benchmarks.md left as it is');
  else {
    writeSection(text);
    say(`wrote the ${mode} section of specs/benchmarks.md`);
  }
  console.log(`\n${text}\n`);
  say(allMet ? 'every target met' : 'some targets missed (see above)');
  return allMet && code === 0 ? 0 : 1;
}

async function postgresVersion() {
  try {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    try {
      const { rows } = await c.query('SHOW server_version');
      return rows[0].server_version.split(' ')[0];
    } finally {
      await c.end();
    }
  } catch {
    return '(version unknown)';
  }
}

let exitCode = 2;
try {
  exitCode = await main();
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.message : err}`);
} finally {
  await cleanup();
}
say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(exitCode);
