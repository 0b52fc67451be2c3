/**
 * A self-contained HTML report: inline CSS and inline SVG charts drawn here, no scripts
 * and no external assets, so the file can be mailed, archived or opened offline.
 * Charts: latency over the run (p50/p99/max per second, log scale, phases shaded), send
 * and delivery rates, the latency histogram of each fixed-rate phase, the ramp, and the
 * server's CPU and memory.
 */
import type { PhaseReport, Report } from './report.js';
import { cpuSecondsBetween } from './metrics.js';
import { recoveryLines, urlLine, verificationLines } from './report-text.js';

const W = 900;
const H = 280;
const M = { top: 20, right: 20, bottom: 42, left: 64 };
const COLORS = ['#2563eb', '#dc2626', '#9333ea', '#16a34a', '#ea580c'];

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const f1 = (n: number | undefined | null) => (n === undefined || n === null ? '—' : n.toFixed(1));

interface Series {
  name: string;
  points: [number, number][];
  color: string;
  dashed?: boolean;
}

interface Band {
  from: number;
  to: number;
  label: string;
}

interface Axis {
  label: string;
  log?: boolean;
  min?: number;
  max?: number;
}

function niceTicks(min: number, max: number, count = 6): number[] {
  if (max <= min) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9 && ticks.length < 50; v += step) {
    ticks.push(Math.round(v * 1e6) / 1e6);
  }
  return ticks;
}

/** The smallest "nice" round number at or above `v`, so the top line is never cut off. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].map((m) => m * mag).find((n) => n >= v) ?? 10 * mag) as number;
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)) && ticks.length < 30; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function fmtTick(v: number): string {
  if (v >= 1_000_000) return `${v / 1_000_000}M`;
  if (v >= 1000) return `${v / 1000}k`;
  return String(Math.round(v * 1000) / 1000);
}

/** A line chart in SVG. Empty series still draw axes, so a broken run still renders. */
export function lineChart(
  series: Series[],
  x: Axis,
  y: Axis,
  bands: Band[] = [],
  hLines: { y: number; label: string }[] = [],
  gap = Infinity,
): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]).filter((v) => !y.log || v > 0);
  const x0 = x.min ?? Math.min(0, ...xs, ...bands.map((b) => b.from));
  const x1 = x.max ?? Math.max(x0 + 1, ...xs, ...bands.map((b) => b.to));
  const yMinData = ys.length ? Math.min(...ys, ...hLines.map((h) => h.y)) : 1;
  const yMaxData = ys.length ? Math.max(...ys, ...hLines.map((h) => h.y)) : 10;
  const y0 = y.log ? (y.min ?? 10 ** Math.floor(Math.log10(Math.max(0.01, yMinData)))) : (y.min ?? 0);
  const y1 = y.log
    ? 10 ** Math.ceil(Math.log10(Math.max(y0 * 10, yMaxData)))
    : (y.max ?? niceMax(yMaxData * 1.05));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (v: number) => M.left + ((v - x0) / (x1 - x0 || 1)) * pw;
  const sy = (v: number) => {
    const t = y.log
      ? (Math.log10(Math.max(v, y0)) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))
      : (v - y0) / (y1 - y0 || 1);
    return M.top + ph - Math.min(1, Math.max(0, t)) * ph;
  };
  const parts: string[] = [];
  bands.forEach((b, i) => {
    parts.push(
      `<rect x="${sx(b.from).toFixed(1)}" y="${M.top}" width="${Math.max(1, sx(b.to) - sx(b.from)).toFixed(1)}" height="${ph}" fill="${i % 2 ? '#f1f5f9' : '#e2e8f0'}" opacity="0.6"/>`,
      `<text x="${(sx(b.from) + 3).toFixed(1)}" y="${M.top + 12}" font-size="10" fill="#475569">${esc(b.label)}</text>`,
    );
  });
  const yt = y.log ? logTicks(y0, y1) : niceTicks(y0, y1);
  for (const t of yt) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#cbd5e1" stroke-width="0.5"/>`,
      `<text x="${M.left - 6}" y="${(sy(t) + 3).toFixed(1)}" font-size="10" text-anchor="end" fill="#334155">${fmtTick(t)}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 10)) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${H - M.bottom + 14}" font-size="10" text-anchor="middle" fill="#334155">${fmtTick(t)}</text>`,
    );
  }
  for (const h of hLines) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${sy(h.y).toFixed(1)}" y2="${sy(h.y).toFixed(1)}" stroke="#f59e0b" stroke-dasharray="6 3"/>`,
      `<text x="${W - M.right - 4}" y="${(sy(h.y) - 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#b45309">${esc(h.label)}</text>`,
    );
  }
  for (const full of series) {
    const s = { ...full, points: full.points.filter((p) => p[0] >= x0 && p[0] <= x1) };
    if (!s.points.length) continue;
    // A gap of more than two seconds (between phases) breaks the line instead of bridging it.
    const d = s.points
      .map(
        (p, i) =>
          `${i && p[0] - s.points[i - 1]![0] <= gap ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`,
      )
      .join('');
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`,
    );
    if (s.points.length < 40) {
      for (const p of s.points) {
        parts.push(
          `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${s.color}"/>`,
        );
      }
    }
  }
  parts.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#334155"/>`,
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#334155"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 6}" font-size="11" text-anchor="middle" fill="#0f172a">${esc(x.label)}</text>`,
    `<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" font-size="11" text-anchor="middle" fill="#0f172a">${esc(y.label)}</text>`,
  );
  const legend = series
    .map(
      (s) =>
        `<span class="key"><span class="swatch" style="background:${s.color}"></span>${esc(s.name)}</span>`,
    )
    .join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg><div class="legend">${legend}</div>`;
}

/** Bars over the log-spaced latency bins that have counts (plus one empty bin either side). */
export function histogramChart(p: PhaseReport): string {
  const { edgesMs, counts } = p.distribution;
  const used = counts.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0);
  if (!used.length) return '<p class="muted">No deliveries to chart.</p>';
  const from = Math.max(0, used[0]! - 1);
  const to = Math.min(counts.length - 1, used.at(-1)! + 1);
  const bins = counts.slice(from, to + 1);
  const maxCount = Math.max(...bins);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const bw = pw / bins.length;
  const parts: string[] = [];
  for (const t of niceTicks(0, maxCount, 5)) {
    const yy = M.top + ph - (t / maxCount) * ph;
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#cbd5e1" stroke-width="0.5"/>`,
      `<text x="${M.left - 6}" y="${(yy + 3).toFixed(1)}" font-size="10" text-anchor="end" fill="#334155">${fmtTick(t)}</text>`,
    );
  }
  bins.forEach((c, i) => {
    const h = (c / maxCount) * ph;
    const lo = edgesMs[from + i]!;
    const hi = edgesMs[from + i + 1];
    parts.push(
      `<rect x="${(M.left + i * bw + 1).toFixed(1)}" y="${(M.top + ph - h).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="#2563eb"><title>${Number(lo.toPrecision(3))}–${hi === undefined ? '∞' : Number(hi.toPrecision(3))} ms: ${c}</title></rect>`,
    );
    if (i % Math.ceil(bins.length / 12) === 0) {
      parts.push(
        `<text x="${(M.left + i * bw).toFixed(1)}" y="${H - M.bottom + 14}" font-size="10" fill="#334155">${Number(lo.toPrecision(2))}</text>`,
      );
    }
  });
  parts.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#334155"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 6}" font-size="11" text-anchor="middle" fill="#0f172a">delivery latency, ms (log bins, 10 per decade)</text>`,
    `<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" font-size="11" text-anchor="middle" fill="#0f172a">deliveries</text>`,
  );
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

function phaseTable(phases: PhaseReport[]): string {
  const row = (label: string, fn: (p: PhaseReport) => string, cls = '') =>
    `<tr class="${cls}"><th>${esc(label)}</th>${phases.map((p) => `<td>${esc(fn(p))}</td>`).join('')}</tr>`;
  const ratio = (p: PhaseReport) =>
    p.deliveryRatio === null ? '—' : `${(p.deliveryRatio * 100).toFixed(3)} %`;
  return `<table><thead><tr><th></th>${phases.map((p) => `<th>${esc(p.name)}</th>`).join('')}</tr></thead><tbody>
${row('target / achieved rate (msg/s)', (p) => `${f1(p.rate)} / ${f1(p.achievedRate)}`)}
${row('duration (s)', (p) => f1(p.durationS))}
${row('sent / acked', (p) => `${p.counts.sent} / ${p.counts.acked}`)}
${row('rejected / unanswered / not sent', (p) => `${p.counts.rejected} / ${p.counts.unanswered} / ${p.counts.notSent}`)}
${row('sent again (messages / writes)', (p) => `${p.counts.retried} / ${p.counts.resends}`)}
${row('deliveries expected / received', (p) => `${p.counts.expected} / ${p.counts.received}`)}
${row('received on resume / over REST', (p) => `${p.counts.receivedByResume} / ${p.counts.receivedByRest}`)}
${row('missing', (p) => `${p.counts.missing}`, 'em')}
${row('delivered', ratio, 'em')}
${row('duplicates / out of order', (p) => `${p.counts.duplicates} / ${p.counts.outOfOrder}`)}
${row('latency avg (ms)', (p) => f1(p.latencyMs.avg), 'em')}
${row('p50 / p90 / p95 (ms)', (p) => `${f1(p.latencyMs.p50)} / ${f1(p.latencyMs.p90)} / ${f1(p.latencyMs.p95)}`)}
${row('p99 / p99.9 / max (ms)', (p) => `${f1(p.latencyMs.p99)} / ${f1(p.latencyMs.p999)} / ${f1(p.latencyMs.max)}`, 'em')}
${row('ack p50 / p99 (ms)', (p) => `${f1(p.ackLatencyMs.p50)} / ${f1(p.ackLatencyMs.p99)}`)}
${row('server CPU avg / max (%)', (p) => `${f1(p.server?.cpuPercentAvg)} / ${f1(p.server?.cpuPercentMax)}`)}
${row('server RSS max (MiB)', (p) => (p.server?.rssMaxBytes ? (p.server.rssMaxBytes / 1048576).toFixed(0) : '—'))}
${row('generator CPU (%) / loop delay p99 (ms)', (p) => `${f1(p.generator.cpuPercent)} / ${f1(p.generator.eventLoopDelayP99Ms)}`)}
${row('machine CPU: all / other processes (%)', (p) => `${f1(p.machine.cpuPercent)} / ${f1(p.machine.otherCpuPercent)}`)}
</tbody></table>`;
}

export function renderHtml(report: Report): string {
  const fixed = report.phases.filter((p) => p.kind !== 'ramp-step');
  const bands: Band[] = report.phases.map((p) => ({
    from: p.startedAtMs / 1000,
    to: p.startedAtMs / 1000 + p.durationS,
    label: p.name.replace(/^ramp step \d+: /, ''),
  }));
  // Time charts show the phases; preparation and connecting come before and are summarised above.
  const span: Axis = {
    label: 'seconds since the run started (by scheduled send time)',
    ...(bands.length
      ? { min: Math.floor(bands[0]!.from) - 1, max: Math.ceil(Math.max(...bands.map((b) => b.to))) + 1 }
      : {}),
  };
  const at = (p: PhaseReport, t: number) => Math.round((p.startedAtMs / 1000 + t + 0.5) * 10) / 10;
  const tl = (pick: (pt: PhaseReport['timeline'][number]) => number, positive = false) =>
    report.phases.flatMap((p) =>
      p.timeline
        .filter((pt) => !positive || pick(pt) > 0)
        .map((pt) => [at(p, pt.t), pick(pt)] as [number, number]),
    );
  const latencyOverTime = lineChart(
    [
      { name: 'p50', points: tl((pt) => pt.p50, true), color: COLORS[0]! },
      { name: 'p99', points: tl((pt) => pt.p99, true), color: COLORS[1]! },
      { name: 'max', points: tl((pt) => pt.max, true), color: COLORS[2]!, dashed: true },
    ],
    span,
    { label: 'delivery latency, ms (log)', log: true },
    bands,
    report.options.maxP99Ms !== undefined
      ? [{ y: report.options.maxP99Ms, label: `p99 limit ${report.options.maxP99Ms} ms` }]
      : [],
    2,
  );
  const ratesOverTime = lineChart(
    [
      { name: 'sent / s', points: tl((pt) => pt.sent), color: COLORS[0]! },
      { name: 'deliveries / s', points: tl((pt) => pt.received), color: COLORS[3]! },
    ],
    span,
    { label: 'per second' },
    bands,
    [],
    2,
  );
  const samples = report.server.samples;
  const cpu: [number, number][] = [];
  const machineCpu: [number, number][] = [];
  for (let i = 1; i < samples.length; i++) {
    const [a, b] = [samples[i - 1]!, samples[i]!];
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    cpu.push([b.t / 1000, (cpuSecondsBetween(a, b) / dt) * 100]);
    if (a.machineBusySeconds !== undefined && b.machineBusySeconds !== undefined) {
      machineCpu.push([b.t / 1000, ((b.machineBusySeconds - a.machineBusySeconds) / dt) * 100]);
    }
  }
  const serverCharts = report.server.sampled
    ? lineChart(
        [
          {
            name: `server CPU % (100 = one core${report.target.urls.length > 1 ? `; all ${report.target.urls.length} servers` : ''})`,
            points: cpu,
            color: COLORS[1]!,
          },
          {
            name: 'whole machine CPU % (when the server is local: server + generator + anything else)',
            points: machineCpu,
            color: COLORS[4]!,
            dashed: true,
          },
        ],
        { ...span, label: 'seconds since the run started' },
        { label: 'CPU %' },
        bands,
      ) +
      lineChart(
        [
          {
            name: `server RSS, MiB${report.target.urls.length > 1 ? ` (all ${report.target.urls.length} servers)` : ''}`,
            points: samples.map((s) => [s.t / 1000, s.rssBytes / 1048576] as [number, number]),
            color: COLORS[2]!,
          },
        ],
        { ...span, label: 'seconds since the run started' },
        { label: 'MiB' },
        bands,
      )
    : '<p class="muted">Server metrics were not sampled (remote target without --server-metrics, or GET /metrics did not answer).</p>';

  const ramp = report.ramp;
  const rampSection = ramp
    ? `<h2>Ramp</h2>
<p>Highest sustained rate with p99 ≤ ${ramp.config.p99BoundMs} ms and nothing lost:
<strong>${ramp.maxSustainedRate === null ? 'none passed' : `${ramp.maxSustainedRate} msg/s`}</strong>${
        ramp.firstFailingRate === null ? '' : `; first failure at ${ramp.firstFailingRate} msg/s`
      } (${esc(ramp.stoppedBecause)}).</p>
${lineChart(
  [
    {
      name: 'p99 per step (passed)',
      points: ramp.steps
        .filter((s) => s.passed)
        .map((s) => [s.rate, Math.max(0.01, s.p99Ms)] as [number, number])
        .sort((a, b) => a[0] - b[0]),
      color: COLORS[3]!,
    },
    {
      name: 'p99 per step (failed)',
      points: ramp.steps
        .filter((s) => !s.passed)
        .map((s) => [s.rate, Math.max(0.01, s.p99Ms)] as [number, number])
        .sort((a, b) => a[0] - b[0]),
      color: COLORS[1]!,
    },
  ],
  { label: 'send rate, messages/s' },
  { label: 'p99 delivery latency, ms (log)', log: true },
  [],
  [{ y: ramp.config.p99BoundMs, label: `bound ${ramp.config.p99BoundMs} ms` }],
)}
<table><thead><tr><th>step</th><th>rate/s</th><th>p99 ms</th><th>missing</th><th>failed sends</th><th>result</th></tr></thead><tbody>
${ramp.steps
  .map(
    (s, i) =>
      `<tr class="${s.passed ? 'pass' : 'fail'}"><td>${i + 1}</td><td>${f1(s.rate)}</td><td>${f1(s.p99Ms)}</td><td>${s.missing}</td><td>${s.failedSends}</td><td>${s.passed ? 'pass' : esc(`fail: ${s.reason}`)}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`
    : '';

  const c = report.connections;
  const pop = report.population;
  const status = report.interrupted ? 'INTERRUPTED' : report.passed ? 'PASSED' : 'FAILED';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>parley-load ${esc(report.runId)} — ${status}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#0f172a;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}th,td{padding:3px 10px;border-bottom:1px solid #e2e8f0;text-align:right}
th:first-child{text-align:left;font-weight:500}thead th{background:#f8fafc}tr.em td{font-weight:600}
.status{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.PASSED{background:#16a34a}.FAILED{background:#dc2626}.INTERRUPTED{background:#ca8a04}
tr.fail td{color:#b91c1c}tr.pass td{color:#166534}.muted{color:#64748b}
.legend{font-size:12px;margin:-4px 0 12px 64px}.key{margin-right:16px}.swatch{display:inline-block;width:12px;height:3px;margin-right:5px;vertical-align:middle}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}dt{color:#475569}dd{margin:0}
</style></head><body>
<h1>parley-load <span class="status ${status}">${status}</span></h1>
<p class="muted">run ${esc(report.runId)} against ${esc(report.target.urls.join(', '))}, ${esc(report.startedAt)} → ${esc(report.finishedAt)} (${report.durationS} s)</p>
<dl>
<dt>machine</dt><dd>${report.machine.cpus} × ${esc(report.machine.cpuModel)}, ${(report.machine.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB, ${esc(report.machine.platform)}, node ${esc(report.machine.node)}</dd>
<dt>population</dt><dd>${pop.users} users × ${pop.devicesPerUser} device(s); ${pop.groups} groups (avg ${pop.avgGroupMembers} members), ${pop.directChats} direct chats; ${Math.round(report.options.directShare * 100)} % of messages to direct chats; ${report.options.messageSize}-character bodies</dd>
<dt>preparation</dt><dd>users registered in ${pop.registerS} s, chats created in ${pop.chatsS} s</dd>
<dt>connections</dt><dd>${c.opened}/${c.attempted} opened, ${c.failed} failed, ${c.closedDuringRun} dropped during the run, ${c.resyncs} resyncs; connect+auth p50 ${f1(c.connectMs.p50)} ms, p99 ${f1(c.connectMs.p99)} ms</dd>
${
  report.target.urls.length > 1
    ? `<dt>servers</dt><dd>${report.target.urls.length}; preparation (REST) through ${esc(report.target.url)}; device k of user n connects to server (n + k) mod ${report.target.urls.length}<br>${c.byUrl.map((u) => esc(urlLine(u))).join('<br>')}</dd>\n`
    : ''
}${
    recoveryLines(report).length
      ? `<dt>under failures</dt><dd>${recoveryLines(report)
          .map((l) => esc(l.trim()))
          .join('<br>')}</dd>\n`
      : ''
  }<dt>late deliveries</dt><dd>${report.lateDeliveries} (arrived after their phase's drain; not counted as received)</dd>
</dl>
${
  report.verification
    ? `<h2>Every acked message on every member's device</h2>\n<p>${verificationLines(report)
        .slice(1)
        .map((l) => esc(l.trim()))
        .join('<br>')}</p>`
    : ''
}
<h2>Checks</h2>
<table><thead><tr><th>check</th><th>phase</th><th>limit</th><th>actual</th><th>result</th></tr></thead><tbody>
${report.checks.map((ch) => `<tr class="${ch.passed ? 'pass' : 'fail'}"><td style="text-align:left">${esc(ch.name)}</td><td>${esc(ch.phase ?? '—')}</td><td>${esc(ch.limit)}</td><td>${esc(ch.actual)}</td><td>${ch.passed ? 'pass' : 'FAIL'}</td></tr>`).join('\n')}
</tbody></table>
${report.warnings.map((w) => `<p class="muted">warning: ${esc(w)}</p>`).join('\n')}
${fixed.length ? `<h2>Phases</h2>${phaseTable(fixed)}` : ''}
<h2>Delivery latency over time</h2>
<p class="muted">Per second of scheduled send time: latency from the scheduled send to receipt on each recipient device.</p>
${latencyOverTime}
<h2>Send and delivery rates</h2>
${ratesOverTime}
${fixed.map((p) => `<h2>Latency histogram: ${esc(p.name)}</h2>${histogramChart(p)}`).join('\n')}
${rampSection}
<h2>Server</h2>
${serverCharts}
<h2>Options</h2>
<pre>${esc(JSON.stringify(report.options, null, 2))}</pre>
</body></html>
`;
}
