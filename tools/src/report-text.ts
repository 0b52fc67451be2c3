/**
 * The human summary printed at the end: one column per phase, the rows an operator reads
 * top to bottom (did everything arrive, how fast, what did it cost), then the checks.
 */
import type { UrlCounts } from './devices.js';
import type { PhaseReport, Report } from './report.js';

const f1 = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(1));
const mib = (n: number | undefined) => (n === undefined ? '—' : `${(n / 1024 / 1024).toFixed(0)} MiB`);

/** Other work on the machine above this (% of one core) is worth a warning. */
export const OTHER_CPU_WARNING = 25;

type Row = [label: string, value: (p: PhaseReport) => string];

const SERVER_ROWS = 'server (GET /metrics)';

const rows: (Row | string)[] = [
  'schedule',
  ['target rate (msg/s)', (p) => f1(p.rate)],
  ['achieved rate (msg/s)', (p) => f1(p.achievedRate)],
  ['duration (s)', (p) => f1(p.durationS)],
  'messages',
  ['scheduled', (p) => `${p.counts.scheduled}`],
  ['sent', (p) => `${p.counts.sent}`],
  ['acked', (p) => `${p.counts.acked}`],
  ['rejected', (p) => `${p.counts.rejected}${codes(p)}`],
  ['unanswered', (p) => `${p.counts.unanswered}`],
  ['not sent (device down)', (p) => `${p.counts.notSent}`],
  [
    'retried (same clientMsgId)',
    (p) => `${p.counts.retried}${p.counts.resends > p.counts.retried ? ` (${p.counts.resends} writes)` : ''}`,
  ],
  'deliveries (per recipient device)',
  ['expected', (p) => `${p.counts.expected}`],
  ['received', (p) => `${p.counts.received}`],
  ['  of which on resume', (p) => `${p.counts.receivedByResume}`],
  ['  of which over REST', (p) => `${p.counts.receivedByRest}`],
  ['missing', (p) => `${p.counts.missing}`],
  ['delivered', (p) => (p.deliveryRatio === null ? '—' : `${(p.deliveryRatio * 100).toFixed(3)} %`)],
  ['duplicates', (p) => `${p.counts.duplicates}`],
  ['out of order', (p) => `${p.counts.outOfOrder}`],
  'delivery latency (ms, from scheduled send)',
  ['avg', (p) => f1(p.latencyMs.avg)],
  ['p50', (p) => f1(p.latencyMs.p50)],
  ['p90', (p) => f1(p.latencyMs.p90)],
  ['p95', (p) => f1(p.latencyMs.p95)],
  ['p99', (p) => f1(p.latencyMs.p99)],
  ['p99.9', (p) => f1(p.latencyMs.p999)],
  ['max', (p) => f1(p.latencyMs.max)],
  'ack latency (ms, from scheduled send)',
  ['p50', (p) => f1(p.ackLatencyMs.p50)],
  ['p99', (p) => f1(p.ackLatencyMs.p99)],
  ['max', (p) => f1(p.ackLatencyMs.max)],
  SERVER_ROWS,
  ['cpu avg (%, 100 = 1 core)', (p) => f1(p.server?.cpuPercentAvg)],
  ['cpu max (%)', (p) => f1(p.server?.cpuPercentMax)],
  ['rss max', (p) => mib(p.server?.rssMaxBytes)],
  ['event loop lag p99 max (ms)', (p) => f1(p.server?.eventLoopLagP99MaxMs)],
  'load generator',
  ['cpu (%)', (p) => f1(p.generator.cpuPercent)],
  ['event loop delay p99 (ms)', (p) => f1(p.generator.eventLoopDelayP99Ms)],
  ['worst send lag (ms)', (p) => f1(p.generator.maxSendLagMs)],
  'machine',
  ['cpu, all processes (%)', (p) => f1(p.machine.cpuPercent)],
  ['cpu, other processes (%)', (p) => f1(p.machine.otherCpuPercent ?? undefined)],
];

/** One server's share of the connections: "url: 334/334 opened, 0 failed, 0 dropped; 5,010 message:new". */
export function urlLine(u: UrlCounts): string {
  const reconnects = u.reconnectAttempts ? `, ${u.reconnects}/${u.reconnectAttempts} reconnects` : '';
  return (
    `${u.url}: ${u.opened}/${u.attempted} opened, ${u.failed} failed, ${u.closedDuringRun} dropped${reconnects}; ` +
    `${u.messagesReceived} message:new received`
  );
}

/** Reconnects, resumes, re-syncs and gap fills in a few lines (nothing when nothing happened). */
export function recoveryLines(report: Report): string[] {
  const c = report.connections;
  const out: string[] = [];
  if (c.reconnectAttempts) {
    const codes = Object.entries(c.closeCodes)
      .map(([k, v]) => `${k} × ${v}`)
      .join(', ');
    out.push(
      `reconnects: ${c.reconnects} of ${c.reconnectAttempts} attempts after ${c.closedDuringRun} drops` +
        (codes ? ` (close codes ${codes})` : '') +
        `; resumes: ${c.resumes.resumed} resumed (${c.resumes.replayed} events replayed), ` +
        `${c.resumes.notResumed} answered sync:resync, ${c.resumes.failed} failed` +
        (c.heartbeatTimeouts ? `; ${c.heartbeatTimeouts} sockets silent past the heartbeat` : ''),
    );
    for (const [reason, n] of Object.entries(c.reconnectFailures))
      out.push(`  reconnect failed: ${n} × ${reason}`);
  }
  const r = c.recovery;
  if (r && (r.resyncs || r.gapFills || r.restFailures)) {
    out.push(
      `over REST: ${r.resyncs} re-syncs, ${r.gapFills} gap fills, ${r.restMessages} messages read` +
        (r.restFailures ? `, ${r.restFailures} failed reads` : '') +
        (r.abandoned ? `, ${r.abandoned} given up` : '') +
        (r.gapsUnfilled ? `, ${r.gapsUnfilled} gaps REST did not fill` : ''),
    );
  }
  const o = c.outbox;
  if (o && (o.heldClosed || o.heldOffline || Object.keys(o.refusals).length)) {
    const refusals = Object.entries(o.refusals).map(([k, v]) => `${k} ${v}`);
    const givenUp = Object.entries(o.givenUp).map(([k, v]) => `${k} ${v}`);
    out.push(
      `sends kept for another write: ${o.heldClosed} unanswered when their socket closed, ` +
        `${o.heldOffline} scheduled while their device was down` +
        (refusals.length ? `, refused as retryable: ${refusals.join(', ')}` : '') +
        `; ${c.duplicateAcks} duplicate acks` +
        (givenUp.length ? `; given up: ${givenUp.join(', ')}` : ''),
    );
  }
  return out;
}

/** The end check: every acked message on every member's devices. */
export function verificationLines(report: Report): string[] {
  const v = report.verification;
  if (!v) return [];
  const d = v.deliveries;
  const out = [
    `every acked message on every member's device${v.mode === 'off' ? '' : ` (final REST check: ${v.mode === 'devices' ? 'every device' : 'one device per user'})`}:`,
    `  acked messages ${v.ackedMessages}; deliveries expected ${d.expected}: ${d.live} live, ` +
      `${d.resume} on resume, ${d.rest} over REST (re-sync, gap fill), ${d.missing} missing`,
  ];
  if (v.missingOnServer !== null && d.missing > 0) {
    out.push(
      `  of the missing: ${v.missingOnServer} on the server (delivery lost them), ` +
        `${v.missingNotOnServer} not on the server`,
    );
  }
  if (v.notRetrievable) {
    out.push(
      `  acked messages a member cannot read over REST: ${v.notRetrievable.messages}` +
        ` (checked by ${v.check.readers} ${v.mode}, ${v.check.chatsRead} chats, ${v.check.requests} requests, ` +
        `${v.check.failedReads} failed, ${v.check.durationS} s)`,
    );
  }
  out.push(
    `  duplicates: ${v.duplicates.raw} seen twice on a device (deduped by id), ` +
      `${v.duplicates.afterDedupe} stored twice (after dedupe)`,
    `  sends: ${v.retriedSends} sent again with the same clientMsgId (${v.resends} writes), ` +
      `${v.duplicateAcks} answered as duplicates`,
  );
  for (const e of v.examples) {
    out.push(
      `  missing: message ${e.messageIndex} (${e.messageId ?? 'no id'}) in chat ${e.chatId} on device ${e.device} ` +
        `of user ${e.user}${e.onServer === null ? '' : e.onServer ? ', on the server' : ', NOT on the server'}`,
    );
  }
  return out;
}

function codes(p: PhaseReport): string {
  const entries = Object.entries(p.counts.rejectCodes);
  return entries.length ? ` (${entries.map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
}

function table(phases: PhaseReport[], servers = 1): string[] {
  const labelWidth = 30;
  const width = Math.max(14, ...phases.map((p) => p.name.length + 2));
  const cells = (p: PhaseReport, r: Row) => r[1](p);
  const lines = [`${''.padEnd(labelWidth)}${phases.map((p) => p.name.padStart(width)).join('')}`];
  for (const r of rows) {
    if (typeof r === 'string') {
      // With several servers the server rows are the sum of all of them (the lag: the worst).
      lines.push(r === SERVER_ROWS && servers > 1 ? `${r}, all ${servers} servers added up` : r);
      continue;
    }
    lines.push(`  ${r[0].padEnd(labelWidth - 2)}${phases.map((p) => cells(p, r).padStart(width)).join('')}`);
  }
  return lines;
}

export function renderText(report: Report): string {
  const out: string[] = [];
  const c = report.connections;
  const pop = report.population;
  out.push('');
  const urls = report.target.urls;
  out.push(
    `parley-load ${report.runId} against ${urls.length > 1 ? `${urls.length} servers: ${urls.join(', ')}` : report.target.url} — ${report.startedAt}`,
  );
  out.push(
    `machine: ${report.machine.cpus} × ${report.machine.cpuModel}, ` +
      `${(report.machine.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB, node ${report.machine.node}`,
  );
  out.push(
    `population: ${pop.users} users × ${pop.devicesPerUser} device(s); ${pop.groups} groups ` +
      `(avg ${pop.avgGroupMembers} members), ${pop.directChats} direct chats; ` +
      `${Math.round(report.options.directShare * 100)} % of messages to direct chats, ` +
      `${report.options.messageSize} characters each`,
  );
  out.push(`preparation: registered in ${pop.registerS} s, chats created in ${pop.chatsS} s`);
  out.push(
    `connections: ${c.opened}/${c.attempted} opened, ${c.failed} failed, ${c.closedDuringRun} dropped during the run; ` +
      `connect+auth p50 ${f1(c.connectMs.p50)} ms, p99 ${f1(c.connectMs.p99)} ms`,
  );
  if (urls.length > 1) {
    out.push(
      `  preparation (REST) through ${report.target.url}; devices per server (device k of user n → server (n + k) mod ${urls.length}):`,
    );
    for (const u of c.byUrl) out.push(`  ${urlLine(u)}`);
  }
  for (const [reason, n] of Object.entries(c.failures)) out.push(`  failed: ${n} × ${reason}`);
  if (c.resyncs)
    out.push(`  sync:resync events: ${c.resyncs} (a device's inbox position was gone, or it fell behind)`);
  out.push(...recoveryLines(report));
  if (report.lateDeliveries)
    out.push(`late deliveries (after their phase's drain): ${report.lateDeliveries}`);
  out.push('');

  const fixed = report.phases.filter((p) => p.kind !== 'ramp-step');
  if (fixed.length) {
    out.push(...table(fixed, urls.length));
    out.push('');
  }
  if (report.ramp) {
    const r = report.ramp;
    out.push(`ramp: p99 bound ${r.config.p99BoundMs} ms, nothing lost`);
    out.push(
      `  ${'rate/s'.padStart(8)} ${'p99 ms'.padStart(9)} ${'missing'.padStart(8)} ${'failed'.padStart(7)}  result`,
    );
    for (const s of r.steps) {
      out.push(
        `  ${f1(s.rate).padStart(8)} ${f1(s.p99Ms).padStart(9)} ${String(s.missing).padStart(8)} ` +
          `${String(s.failedSends).padStart(7)}  ${s.passed ? 'pass' : `FAIL: ${s.reason}`}`,
      );
    }
    out.push(
      `  highest sustained rate: ${r.maxSustainedRate === null ? 'none passed' : `${r.maxSustainedRate} msg/s`}` +
        `${r.firstFailingRate === null ? '' : `; first failure at ${r.firstFailingRate} msg/s`} (${r.stoppedBecause})`,
    );
    out.push('');
  }
  const verified = verificationLines(report);
  if (verified.length) out.push(...verified, '');
  for (const w of report.warnings) out.push(`warning: ${w}`);
  const saturated = report.phases.filter(
    (p) => p.generator.cpuPercent > 90 || p.generator.eventLoopDelayP99Ms > 50,
  );
  if (saturated.length) {
    out.push(
      `warning: the load generator itself was busy in ${saturated.map((p) => p.name).join(', ')} ` +
        '(CPU > 90 % or event-loop delay p99 > 50 ms): part of the latency may be its own.',
    );
  }
  const disturbed = report.phases.filter((p) => (p.machine.otherCpuPercent ?? 0) > OTHER_CPU_WARNING);
  if (disturbed.length) {
    out.push(
      `warning: other processes on this machine used more than ${OTHER_CPU_WARNING} % CPU during ` +
        `${disturbed.map((p) => `${p.name} (${p.machine.otherCpuPercent} %)`).join(', ')}: ` +
        'they competed with the server for its cores.',
    );
  }
  out.push('checks:');
  for (const ch of report.checks) {
    out.push(
      `  ${ch.passed ? 'pass' : 'FAIL'}  ${ch.name}${ch.phase ? ` [${ch.phase}]` : ''}: ${ch.actual} (limit ${ch.limit})`,
    );
  }
  out.push(report.interrupted ? 'INTERRUPTED' : report.passed ? 'PASSED' : 'FAILED');
  out.push('');
  return out.join('\n');
}
