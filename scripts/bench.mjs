#!/usr/bin/env node
/**
 * `npm run bench`: the benchmarks of the delivery pipeline, each against a fresh server
 * on a free loopback port, driven by the load-test CLI (tools/, parley-load), with the
 * numbers, the scenario, the date and the machine written into specs/benchmarks.md.
 *
 * - `standard`: 1,000 connections, 50 messages/s sustained, a 100 messages/s spike, then
 *   the ramp to the highest rate that keeps p99 under 100 ms.
 * - Held-rate scenarios (one fresh server each, the per-user send limit raised): a rate
 *   held for 60 s, judged on p99 and on nothing lost or duplicated. Embedded mode:
 *   `held-500` (500 users, groups of 10, 500 messages/s) and `group-50` (one busy group
 *   of 50, 300 messages/s). PostgreSQL mode: `latency-50` (50 messages/s, p99 ≤ 10 ms),
 *   `held-1200` (1,200 messages/s) and `group-50`. For each: the server's CPU per message
 *   and per delivery (/proc), its send batches and database statements (GET /metrics),
 *   and in PostgreSQL mode the database's commits, tuples and WAL per message
 *   (pg_stat_database), read in quiet windows before and after the phase (the load
 *   tester's --idle-gap).
 *
 * Mode: embedded PGlite in a temporary DATA_DIR; with DATABASE_URL set, PostgreSQL: a fresh
 * database `parley_bench_<random>` on that server for each scenario, dropped afterwards.
 * Each mode has its own sections in specs/benchmarks.md; a run replaces only its own.
 *
 * `--only standard,group-50` runs some scenarios (their sections are rewritten; the held
 * section only when every held scenario of the mode ran). `--quick` runs a small version
 * of each (short phases) to check the script itself; it writes artifacts/bench/ only,
 * never specs/benchmarks.md.
 *
 * Exit code: 0 every target met, 1 a target missed (the numbers are still written),
 * 2 the benchmark could not run.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  bucketQuantile,
  createProbe,
  difference,
  isLocalPostgres,
  machineBusy,
  postgresCpuSeconds,
  sampleAtOrBefore,
  serverPid,
} from './lib/probe.mjs';
import { closingLines, commitLabel, writeSection } from './lib/report.mjs';
import { createCleanups, freePort, freshDatabase, root, startServer } from './lib/run-server.mjs';

const mode = process.env.DATABASE_URL ? 'postgres' : 'pglite';

/** Held-rate scenarios: a rate held for `duration` s on a fresh server; pass = p99 ≤ p99Ms, nothing lost or duplicated. */
const HELD = {
  'latency-50': {
    title: '50 msg/s, low latency',
    users: 500,
    groupSize: 10,
    directShare: 0.3,
    rate: 50,
    p99Ms: 10,
    underLoad: false,
  },
  'held-500': {
    title: '500 msg/s held',
    users: 500,
    groupSize: 10,
    directShare: 0.3,
    rate: 500,
    p99Ms: 100,
    underLoad: true,
  },
  'held-1200': {
    title: '1,200 msg/s held',
    users: 500,
    groupSize: 10,
    directShare: 0.3,
    rate: 1200,
    p99Ms: 100,
    underLoad: true,
  },
  'group-50': {
    title: 'one busy group of 50',
    users: 50,
    groupSize: 50,
    directShare: 0,
    rate: 300,
    p99Ms: 100,
    underLoad: true,
  },
};
/** Which held scenarios each mode runs, in order. */
const HELD_BY_MODE = { pglite: ['held-500', 'group-50'], postgres: ['latency-50', 'held-1200', 'group-50'] };
/** The goals of the database work per message, judged on the scenarios under load (PostgreSQL). */
const DB_GOALS = { commitsPerMessage: 1, statementsPerMessage: 3 };
/** The server's per-user send limit for the held scenarios: random senders at these rates exceed the default. */
const HELD_SERVER_ENV = { SEND_RATE_PER_SECOND: '1000', SEND_BURST: '100000' };

let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    options: { quick: { type: 'boolean' }, only: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  console.error(`bench: ${err.message}; options: --quick, --only <scenario,...>`);
  process.exit(2);
}
const quick = args.quick === true;
const allScenarios = ['standard', ...HELD_BY_MODE[mode]];
const selected = args.only ? args.only.split(',').map((s) => s.trim()) : allScenarios;
const notHere = selected.filter((s) => !allScenarios.includes(s));
if (notHere.length || selected.length === 0) {
  console.error(
    `bench: unknown scenario(s) ${notHere.join(', ')} for ${mode} mode; scenarios: ${allScenarios.join(', ')}`,
  );
  process.exit(2);
}
const heldSelected = HELD_BY_MODE[mode].filter((s) => selected.includes(s));
const outDir = path.join(root, 'artifacts', 'bench');
const docPath = path.join(root, 'specs', 'benchmarks.md');
/**
 * Held scenarios: seconds held, and the quiet windows around the phase. PostgreSQL reports
 * a backend's commits and tuples up to 10 s late (it flushes its statistics at most once a
 * second, and an idle backend after up to 10 s), so in PostgreSQL mode the windows are
 * longer than that, also in a quick run.
 */
const heldShape = {
  duration: quick ? 8 : 60,
  idleGap: mode === 'postgres' ? 12 : quick ? 3 : 5,
  maxUsers: quick ? 200 : 500,
};
/** Everything, start to cleanup; the phases below add up to well under it. */
const RUN_BUDGET_MS =
  (selected.includes('standard') ? (quick ? 180_000 : 540_000) : 0) +
  heldSelected.length * (quick ? 90_000 : 240_000);

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
const { cleanups, cleanup, scope: scenarioScope } = createCleanups();

const started = Date.now();
const say = (line) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);

/** Samples postgresCpuSeconds every second while the load test runs (local PostgreSQL on Linux only). */
function samplePostgresCpu() {
  const samples = [];
  if (mode !== 'postgres' || !isLocalPostgres(process.env.DATABASE_URL))
    return { samples, stop: () => undefined };
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

/** The standard scenario's parley-load arguments. */
function standardArgs(base, reportPath, htmlPath) {
  return [
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
  ];
}

/** Runs parley-load with `args`; its progress (stderr) and summary (stdout) show as they come. */
function runLoadTest(toolArgs) {
  const args = [path.join(root, 'tools', 'bin', 'parley-load.mjs'), ...toolArgs.map(String)];
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

const f1 = (n) => (n === undefined || n === null ? '—' : n.toFixed(1));
const mark = (ok) => (ok ? '✅' : '❌');
const int = (n) => n.toLocaleString('en-US');

/** The generated section of specs/benchmarks.md for this mode. */
function renderSection(report, commit, serverDescription, reportName, before) {
  const steady = report.phases.find((p) => p.kind === 'steady');
  const spike = report.phases.find((p) => p.kind === 'spike');
  const fixed = [steady, spike].filter(Boolean);
  const pgMeasured = report.phases.some((p) => p.postgresCpuPercent !== undefined);
  // Without its own measurement, PostgreSQL's CPU is part of "other processes".
  const pgIncluded = mode === 'postgres' && !pgMeasured ? ', PostgreSQL included' : '';
  const c = report.connections;
  const m = report.machine;
  const peakSockets = Math.max(0, ...report.server.samples.map((s) => s.wsConnections ?? 0));
  // A quick run opens fewer on purpose: it is judged on opening all of its own.
  const connectionsOk = c.opened >= scenario.users && c.failed === 0 && c.closedDuringRun === 0;
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
    `Run on ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC · commit ${commit} · ` +
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
    `| concurrent connections | ${int(scenario.users)} | ${check('connections', `${int(c.opened)} opened, ${c.failed} failed, ${c.closedDuringRun} dropped; server counted ${int(peakSockets)} open sockets`, connectionsOk)} |${fixed.length > 1 ? ' |'.repeat(fixed.length - 1) : ''}`,
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
  const closing = closingLines({
    disturbed: disturbed.map((p) => `${p.name} (${f1(p.machine.otherCpuPercent)} %)`),
    limitPercent: otherLimit,
    who: `Other processes on the machine${mode === 'postgres' && !pgMeasured ? ' (PostgreSQL included)' : ''}`,
    rivals: 'the generator',
    verdicts,
    kind: 'target',
    reports: `Full reports of this run (not committed): \`artifacts/bench/${reportName}.json\` and \`artifacts/bench/${reportName}.html\`.`,
  });
  lines.push(...closing.lines);
  return { text: lines.join('\n'), allMet: closing.allMet };
}

/** Per-message figures of a held scenario (undefined where not measured). */
function heldFigures(r) {
  const { phase, cost } = r;
  const sent = phase.counts.sent;
  const per = (n, by = sent) => (n === undefined || !by ? undefined : n / by);
  return {
    cpuMsPerMessage: per(cost?.cpuSeconds === undefined ? undefined : cost.cpuSeconds * 1000),
    cpuMsPerDelivery: per(
      cost?.cpuSeconds === undefined ? undefined : cost.cpuSeconds * 1000,
      phase.counts.received,
    ),
    pgCpuMsPerMessage: per(
      cost?.postgresCpuSeconds === undefined ? undefined : cost.postgresCpuSeconds * 1000,
    ),
    statementsPerMessage: per(cost?.statements),
    commitsPerMessage: per(cost?.db?.commits),
    walBytesPerMessage: per(cost?.db?.walBytes),
    insertedPerMessage: per(cost?.db?.inserted),
    updatedPerMessage: per(cost?.db?.updated),
    deletedPerMessage: per(cost?.db?.deleted),
    avgBatch: cost?.batches ? cost.batchedSends / cost.batches : undefined,
    commitAvgMs: cost?.commitCount ? (cost.commitSeconds / cost.commitCount) * 1000 : undefined,
    commitP99Le: bucketQuantile(cost?.commitBuckets, 0.99),
    pgCpuPercent:
      r.during?.postgresCpuSeconds === undefined
        ? undefined
        : (r.during.postgresCpuSeconds / r.during.seconds) * 100,
  };
}

/** The goals of one held scenario, each with its verdict. */
function heldVerdicts(r) {
  const { phase, spec, report } = r;
  const c = phase.counts;
  const f = heldFigures(r);
  const conns = report.connections;
  const v = [
    {
      label: `${r.id}: every device connected and stayed`,
      ok: conns.failed === 0 && conns.closedDuringRun === 0 && conns.opened === conns.attempted,
    },
    {
      label: `${r.id}: p99 ≤ ${spec.p99Ms} ms`,
      ok: phase.latencyMs.count > 0 && phase.latencyMs.p99 <= spec.p99Ms,
    },
    {
      label: `${r.id}: nothing lost`,
      ok: c.missing === 0 && c.notSent + c.rejected + c.unanswered === 0 && c.received === c.expected,
    },
    { label: `${r.id}: nothing duplicated`, ok: c.duplicates === 0 && c.unexpected === 0 },
  ];
  if (mode === 'postgres' && spec.underLoad && !quick) {
    v.push({
      label: `${r.id}: ≤ ${DB_GOALS.commitsPerMessage} commit per message`,
      ok: f.commitsPerMessage !== undefined && f.commitsPerMessage <= DB_GOALS.commitsPerMessage,
    });
    v.push({
      label: `${r.id}: ≤ ${DB_GOALS.statementsPerMessage} statements per message`,
      ok: f.statementsPerMessage !== undefined && f.statementsPerMessage <= DB_GOALS.statementsPerMessage,
    });
  }
  return v;
}

/** The generated held-rate section of specs/benchmarks.md for this mode. */
function renderHeldSection(results, commit, serverDescription) {
  const first = results[0].report;
  const m = first.machine;
  const pg = mode === 'postgres';
  const f2 = (n) => (n === undefined || n === null ? '—' : n.toFixed(2));
  const ms = (n) => (n === undefined || n === null ? '—' : `${n.toFixed(1)} ms`);
  const verdicts = results.flatMap(heldVerdicts);
  const okOf = (label) => verdicts.find((v) => v.label === label)?.ok;
  const col = (fn) => results.map(fn).join(' | ');
  const rows = [];
  const row = (label, fn) => rows.push(`| ${label} | ${col(fn)} |`);
  const lines = [];
  lines.push(
    `Run on ${results[0].report.startedAt.slice(0, 16).replace('T', ' ')} UTC · commit ${commit} · ` +
      `${m.cpus} × ${m.cpuModel}, ${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB RAM · ${m.platform} · Node ${m.node}`,
  );
  lines.push('');
  lines.push(
    `Server: ${serverDescription}, \`NODE_ENV=production\`, default settings except the per-user send limit ` +
      `(\`SEND_RATE_PER_SECOND=${HELD_SERVER_ENV.SEND_RATE_PER_SECOND}\`, \`SEND_BURST=${HELD_SERVER_ENV.SEND_BURST}\`), ` +
      `on the same machine as the load generator. Each column: a fresh server, then ${heldShape.duration} s at the rate, ` +
      `with ${heldShape.idleGap} s of quiet before and after the phase in which the counters are read. Latency from the scheduled send to receipt on every recipient device.`,
  );
  lines.push('');
  lines.push(`| | ${col((r) => `\`${r.id}\`: ${r.spec.title}`)} |`);
  lines.push(`|---|${results.map(() => '---').join('|')}|`);
  row('population', (r) => {
    const p = r.report.population;
    const chats = [
      p.groups ? `${p.groups} group${p.groups === 1 ? '' : 's'} of ${p.avgGroupMembers}` : '',
      p.directChats ? `${p.directChats} direct chats` : '',
    ].filter(Boolean);
    return `${int(p.users)} users × ${p.devicesPerUser} connection; ${chats.join(' and ')}; ${Math.round(r.report.options.directShare * 100)} % of messages to direct chats`;
  });
  row(
    'machine before the scenario',
    (r) => `${r.before.busyPercent.toFixed(0)} % busy (load ${r.before.load.split(' / ')[0]})`,
  );
  row(
    'rate held (target / achieved)',
    (r) => `${r.spec.rate} / ${r.phase.achievedRate} msg/s for ${r.phase.durationS} s`,
  );
  row('messages sent / acked / failed', (r) => {
    const c = r.phase.counts;
    return `${int(c.sent)} / ${int(c.acked)} / ${int(c.notSent + c.rejected + c.unanswered)}`;
  });
  row('deliveries expected / received / missing', (r) => {
    const c = r.phase.counts;
    return `${int(c.expected)} / ${int(c.received)} / ${int(c.missing)} ${mark(okOf(`${r.id}: nothing lost`))}`;
  });
  row('duplicates / out of order', (r) => {
    const c = r.phase.counts;
    return `${c.duplicates} / ${c.outOfOrder} ${mark(okOf(`${r.id}: nothing duplicated`))}`;
  });
  row('connections opened / failed / dropped', (r) => {
    const c = r.report.connections;
    return `${int(c.opened)} / ${c.failed} / ${c.closedDuringRun} ${mark(okOf(`${r.id}: every device connected and stayed`))}`;
  });
  row('latency p50 / p90', (r) => `${ms(r.phase.latencyMs.p50)} / ${ms(r.phase.latencyMs.p90)}`);
  row(
    '**latency p99** (goal)',
    (r) =>
      `**${ms(r.phase.latencyMs.p99)}** (≤ ${r.spec.p99Ms} ms) ${mark(okOf(`${r.id}: p99 ≤ ${r.spec.p99Ms} ms`))}`,
  );
  row('latency p99.9 / max', (r) => `${ms(r.phase.latencyMs.p999)} / ${ms(r.phase.latencyMs.max)}`);
  row('ack p50 / p99', (r) => `${ms(r.phase.ackLatencyMs.p50)} / ${ms(r.phase.ackLatencyMs.p99)}`);
  row(
    'server CPU avg / max (100 % = one core)',
    (r) => `${f1(r.phase.server?.cpuPercentAvg)} / ${f1(r.phase.server?.cpuPercentMax)} %`,
  );
  row('server CPU per message sent / per delivery', (r) => {
    const f = heldFigures(r);
    return `${f2(f.cpuMsPerMessage)} ms / ${f2(f.cpuMsPerDelivery)} ms`;
  });
  if (pg) {
    row('PostgreSQL CPU avg (whole server) / per message', (r) => {
      const f = heldFigures(r);
      return `${f1(f.pgCpuPercent)} % / ${f2(f.pgCpuMsPerMessage)} ms`;
    });
  }
  row('server RSS max', (r) => (r.rssMax ? `${(r.rssMax / 1048576).toFixed(0)} MiB` : '—'));
  row('server event-loop lag p99, worst sample', (r) => ms(r.phase.server?.eventLoopLagP99MaxMs));
  row(
    'load generator CPU / event-loop delay p99 / worst send lag',
    (r) =>
      `${f1(r.phase.generator.cpuPercent)} % / ${ms(r.phase.generator.eventLoopDelayP99Ms)} / ${ms(r.phase.generator.maxSendLagMs)}`,
  );
  row('other processes on the machine (CPU)', (r) => {
    const other = r.phase.machine?.otherCpuPercent;
    const pgPct = heldFigures(r).pgCpuPercent;
    if (other == null) return '—';
    return `${f1(pgPct === undefined ? other : Math.max(0, other - pgPct))} %`;
  });
  row('send batches: avg size / commit avg / commit p99 under', (r) => {
    const f = heldFigures(r);
    return `${f1(f.avgBatch)} / ${ms(f.commitAvgMs)} / ${f.commitP99Le === undefined ? '—' : f.commitP99Le === Infinity ? '> 2.5 s' : `${f.commitP99Le * 1000} ms`}`;
  });
  if (pg) {
    row(`**statements per message** (goal ≤ ${DB_GOALS.statementsPerMessage} under load)`, (r) => {
      const f = heldFigures(r);
      const ok = okOf(`${r.id}: ≤ ${DB_GOALS.statementsPerMessage} statements per message`);
      return `**${f2(f.statementsPerMessage)}**${ok === undefined ? '' : ` ${mark(ok)}`}`;
    });
    row(`**commits per message** (goal ≤ ${DB_GOALS.commitsPerMessage} under load)`, (r) => {
      const f = heldFigures(r);
      const ok = okOf(`${r.id}: ≤ ${DB_GOALS.commitsPerMessage} commit per message`);
      return `**${f2(f.commitsPerMessage)}**${ok === undefined ? '' : ` ${mark(ok)}`}`;
    });
    row('WAL bytes per message (cluster-wide)', (r) => {
      const f = heldFigures(r);
      return f.walBytesPerMessage === undefined ? '—' : int(Math.round(f.walBytesPerMessage));
    });
    row('rows inserted / updated / deleted per message', (r) => {
      const f = heldFigures(r);
      return `${f2(f.insertedPerMessage)} / ${f2(f.updatedPerMessage)} / ${f2(f.deletedPerMessage)}`;
    });
  } else {
    row('hot-path statements per message (PGlite counts only those)', (r) =>
      f2(heldFigures(r).statementsPerMessage),
    );
  }
  row('the idle server, per second: statements / server CPU', (r) => {
    const i = r.idle;
    if (!i) return '—';
    return `${f1(i.statements / i.seconds)} / ${f1((i.cpuSeconds / i.seconds) * 1000)} ms`;
  });
  row('event frames received: `message:new` / `message:delivered` / other', (r) => {
    const fr = r.report.connections.framesByType;
    const total = Object.values(fr).reduce((x, y) => x + y, 0);
    const n = fr['message:new'] ?? 0;
    const d = fr['message:delivered'] ?? 0;
    return `${int(n)} / ${int(d)} / ${int(total - n - d)}`;
  });
  row('result', (r) => (heldVerdicts(r).every((v) => v.ok) ? '**pass**' : '**fail**'));
  lines.push(...rows);
  lines.push('');
  const otherOf = (r) => {
    const other = r.phase.machine?.otherCpuPercent;
    const pgPct = heldFigures(r).pgCpuPercent;
    return other == null ? 0 : pgPct === undefined ? other : Math.max(0, other - pgPct);
  };
  const closing = closingLines({
    disturbed: results
      .filter((r) => otherOf(r) > QUIET_PERCENT)
      .map((r) => `\`${r.id}\` (${f1(otherOf(r))} %)`),
    limitPercent: QUIET_PERCENT,
    rivals: 'the generator',
    verdicts,
    kind: 'goal',
    reports: `Full reports of this run (not committed): ${results.map((r) => `\`artifacts/bench/${r.name}.json\``).join(', ')} (and \`.html\`).`,
  });
  lines.push(...closing.lines);
  return { text: lines.join('\n'), allMet: closing.allMet };
}

const TEMPLATE = `# Benchmarks

Generated sections are replaced by \`npm run bench\`; edit only outside the markers.

<!-- bench:pglite:start -->
_Not run yet._
<!-- bench:pglite:end -->

<!-- bench:postgres:start -->
_Not run yet._
<!-- bench:postgres:end -->

<!-- bench:pglite-held:start -->
_Not run yet._
<!-- bench:pglite-held:end -->

<!-- bench:postgres-held:start -->
_Not run yet._
<!-- bench:postgres-held:end -->
`;

/**
 * Waits (a bounded while) for the machine to be quiet: other work competes for the same
 * cores and would make the numbers pessimistic. Returns how busy it was and the load average.
 */
async function quietMachine(maxWaitMs) {
  let busy = await machineBusy(3_000);
  for (let waited = 0; busy > QUIET_PERCENT && waited < maxWaitMs; waited += 5_000) {
    say(`the machine is ${busy.toFixed(0)} % busy (100 = one core); waiting for it to quieten`);
    busy = await machineBusy(5_000);
  }
  const load = os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ');
  say(`the machine is ${busy.toFixed(0)} % busy, load average ${load}`);
  if (busy > QUIET_PERCENT)
    say('warning: other work is running on this machine; the numbers will be pessimistic');
  return { busyPercent: busy, load };
}

/** A fresh server (PGlite in a temporary DATA_DIR, or a fresh PostgreSQL database) with `env`. */
async function freshServer(scope, env) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
  scope.list.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const databaseUrl = await freshDatabase('parley_bench', scope.list);
  const port = await freePort();
  say(
    `starting the server (${mode === 'postgres' ? 'PostgreSQL, fresh database' : 'PGlite in a temporary DATA_DIR'})`,
  );
  const server = await startServer({
    port,
    dataDir,
    databaseUrl,
    cleanups: scope.list,
    env: { NODE_ENV: 'production', JWT_SECRET: randomBytes(32).toString('hex'), ...env },
  });
  return { ...server, databaseUrl };
}

function readReport(reportPath, code, output) {
  if (!existsSync(reportPath)) {
    const tail = output.slice(-30).join('\n');
    throw new Error(
      `the load test wrote no report (exit ${code})${tail ? `\n--- server output ---\n${tail}` : ''}`,
    );
  }
  return JSON.parse(readFileSync(reportPath, 'utf8'));
}

/** The standard scenario, as it always ran: one server, steady + spike + ramp. */
async function runStandard(before) {
  const scope = scenarioScope();
  try {
    // Production, as operators run it: a real secret, default limits and log level.
    const { base, output } = await freshServer(scope, {});
    say(`server up at ${base}; running the load test${quick ? ' (quick)' : ''}`);

    const name = quick ? `quick-${mode}` : mode;
    const reportPath = path.join(outDir, `${name}.json`);
    const htmlPath = path.join(outDir, `${name}.html`);
    rmSync(reportPath, { force: true });
    const pgCpu = samplePostgresCpu();
    const code = await runLoadTest(standardArgs(base, reportPath, htmlPath));
    pgCpu.stop();
    const report = readReport(reportPath, code, output);
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
    const { text, allMet } = renderSection(report, commitLabel(), serverDescription, name, before);
    if (quick) say('quick run: specs/benchmarks.md left as it is');
    else {
      writeSection(docPath, mode, text, TEMPLATE);
      say(`wrote the ${mode} section of specs/benchmarks.md`);
    }
    console.log(`\n${text}\n`);
    return allMet && code === 0;
  } finally {
    await scope.close();
  }
}

/**
 * One held-rate scenario on a fresh server: parley-load holds the rate for the phase, with
 * quiet windows (--idle-gap) before and after it; a probe samples the server and the
 * database every second, and the phase's cost is the difference between the last sample
 * before the phase and the last one before the tool disconnects.
 */
async function runHeld(id, before) {
  const spec = HELD[id];
  const users = Math.min(spec.users, heldShape.maxUsers);
  const scope = scenarioScope();
  try {
    const { base, output, pid: spawned, databaseUrl } = await freshServer(scope, HELD_SERVER_ENV);
    const pid = await serverPid(spawned);
    const probe = createProbe({
      base,
      pid,
      pg: databaseUrl
        ? { url: process.env.DATABASE_URL, database: new URL(databaseUrl).pathname.slice(1) }
        : undefined,
    });
    await probe.start(1_000);
    scope.list.push(() => probe.stop());
    say(`${id}: server up at ${base} (pid ${pid}); ${spec.rate} messages/s for ${heldShape.duration} s`);
    const name = `${quick ? 'quick-' : ''}${mode}-${id}`;
    const reportPath = path.join(outDir, `${name}.json`);
    const htmlPath = path.join(outDir, `${name}.html`);
    rmSync(reportPath, { force: true });
    const code = await runLoadTest([
      ...[
        '--url',
        base,
        '--users',
        users,
        '--group-size',
        spec.groupSize,
        '--direct-share',
        spec.directShare,
      ],
      ...['--message-size', shape.messageSize, '--rate', spec.rate, '--duration', heldShape.duration],
      ...[
        '--drain',
        10,
        '--idle-gap',
        heldShape.idleGap,
        '--max-p99-ms',
        spec.p99Ms,
        '--min-delivery',
        '100%',
      ],
      ...['--out', reportPath, '--html', htmlPath],
    ]);
    await probe.stop();
    const report = readReport(reportPath, code, output);
    const phase = report.phases[0];
    if (!phase) throw new Error(`${id}: the load test ran no phase (exit ${code})`);
    const t0 = Date.parse(report.startedAt);
    const from = t0 + phase.startedAtMs;
    // The tool holds still for idleGap after the phase: the last sample in that window.
    const to = t0 + phase.endedAtMs + heldShape.idleGap * 1000 - 300;
    const a = sampleAtOrBefore(probe.samples, from);
    const b = sampleAtOrBefore(probe.samples, to);
    // The second half of the quiet window before the phase: what the idle server costs.
    const idle0 = sampleAtOrBefore(probe.samples, from - (heldShape.idleGap * 1000) / 2);
    const cost = a && b && b.at > a.at ? difference(a, b) : undefined;
    const idle = idle0 && a && a.at > idle0.at ? difference(idle0, a) : undefined;
    // The phase alone (for averages over it, like PostgreSQL's CPU).
    const end = sampleAtOrBefore(probe.samples, t0 + phase.endedAtMs);
    const during = a && end && end.at > a.at ? difference(a, end) : undefined;
    const rssMax = Math.max(
      0,
      ...probe.samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.rssBytes ?? 0),
    );
    const result = { id, spec, users, report, phase, cost, during, idle, rssMax, before, code, name };
    say(`${id}: ${heldVerdicts(result).every((v) => v.ok) ? 'every goal met' : 'goals missed'}`);
    return result;
  } finally {
    await scope.close();
  }
}

async function main() {
  const budget = setTimeout(() => {
    console.error(`bench: over the ${RUN_BUDGET_MS / 1000} s budget; aborting`);
    void cleanup().finally(() => process.exit(2));
  }, RUN_BUDGET_MS);
  budget.unref();
  mkdirSync(outDir, { recursive: true });

  let ok = true;
  if (selected.includes('standard')) {
    const before = await quietMachine(QUIET_WAIT_MS);
    ok = (await runStandard(before)) && ok;
  }
  const held = [];
  for (const id of heldSelected) {
    // The scenario before has just stopped its server: let PostgreSQL and the machine settle.
    const before = await quietMachine(held.length || selected.includes('standard') ? 30_000 : QUIET_WAIT_MS);
    held.push(await runHeld(id, before));
  }
  if (held.length) {
    const serverDescription =
      mode === 'postgres'
        ? `PostgreSQL ${await postgresVersion()} on the same machine (a fresh database per scenario)`
        : 'embedded PGlite (a temporary DATA_DIR per scenario)';
    const { text, allMet } = renderHeldSection(held, commitLabel(), serverDescription);
    ok = allMet && ok;
    if (quick) say('quick run: specs/benchmarks.md left as it is');
    else if (held.length < HELD_BY_MODE[mode].length)
      say(`only some held scenarios ran: the ${mode}-held section of specs/benchmarks.md left as it is`);
    else {
      writeSection(docPath, `${mode}-held`, text, TEMPLATE);
      say(`wrote the ${mode}-held section of specs/benchmarks.md`);
    }
    writeFileSync(path.join(outDir, `${quick ? 'quick-' : ''}${mode}-held.md`), `${text}\n`);
    console.log(`\n${text}\n`);
  }
  say(ok ? 'every target met' : 'some targets missed (see above)');
  return ok ? 0 : 1;
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
