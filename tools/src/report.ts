/**
 * The shape of a load-test report (what --out writes) and the pass/fail checks on it.
 * The text and HTML reports are both rendered from this object, so they always agree.
 */
import type { FleetCounts } from './devices.js';
import type { ServerSample, ServerWindow } from './metrics.js';
import type { LoadOptions } from './options.js';
import type { RampResult } from './ramp.js';
import type { Distribution, LatencySummary, PhaseCounts, PhaseSpec, TimelinePoint } from './stats.js';
import type { Verification } from './verify.js';

/** 2: reconnects, retries and the final check (`verification`, new `connections` fields). */
export const REPORT_VERSION = 2;

export interface GeneratorWindow {
  /** CPU of the load generator itself (100 = one core): near 100 means it, not the server, was the limit. */
  cpuPercent: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /** Worst delay between a message's scheduled time and its write. */
  maxSendLagMs: number;
}

export interface MachineWindow {
  /** Every process on the machine (100 = one core; the most is cores × 100). */
  cpuPercent: number;
  /** What neither the server (when sampled) nor the generator used: other work on the same cores. */
  otherCpuPercent: number | null;
}

export interface PhaseReport extends PhaseSpec {
  /** ms since the run started. */
  startedAtMs: number;
  endedAtMs: number;
  /** Sent messages per second over the phase's duration. */
  achievedRate: number;
  counts: PhaseCounts;
  /** received / expected; null when nothing was expected. */
  deliveryRatio: number | null;
  /** From scheduled send time to receipt on each recipient device. */
  latencyMs: LatencySummary;
  /** From scheduled send time to the sender's ack. */
  ackLatencyMs: LatencySummary;
  distribution: Distribution;
  timeline: TimelinePoint[];
  server: ServerWindow | null;
  generator: GeneratorWindow;
  machine: MachineWindow;
}

export interface Check {
  name: string;
  phase: string | null;
  limit: string;
  actual: string;
  passed: boolean;
}

export interface Report {
  tool: 'parley-load';
  reportVersion: number;
  runId: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  interrupted: boolean;
  /** `url`: the first server, which the preparation went to; `urls`: every server, in --url order. */
  target: { url: string; urls: string[]; loopback: boolean };
  options: LoadOptions;
  machine: {
    cpus: number;
    cpuModel: string;
    totalMemoryBytes: number;
    platform: string;
    node: string;
  };
  population: {
    users: number;
    devicesPerUser: number;
    groups: number;
    directChats: number;
    avgGroupMembers: number;
    registerS: number;
    chatsS: number;
  };
  connections: FleetCounts & { connectMs: LatencySummary };
  phases: PhaseReport[];
  ramp: RampResult | null;
  server: { sampled: boolean; failures: number; samples: ServerSample[] };
  /** Deliveries that arrived after their phase's drain ended (not in any phase's counts). */
  lateDeliveries: number;
  /** message:new frames that were not this run's. */
  foreignMessages: number;
  /** Every acked message looked for on every member's device; null with --no-reconnect and --verify off. */
  verification: Verification | null;
  warnings: string[];
  checks: Check[];
  passed: boolean;
}

const ms = (n: number) => `${n.toFixed(1)} ms`;
const pct = (n: number) => `${(n * 100).toFixed(3)} %`;

/** Thresholds from the options on the fixed-rate phases, plus the checks that always apply. */
export function evaluateChecks(
  options: LoadOptions,
  connections: FleetCounts,
  phases: PhaseReport[],
  verification: Verification | null = null,
): Check[] {
  const checks: Check[] = [
    {
      name: 'connections opened',
      phase: null,
      limit: `${connections.attempted}`,
      actual: `${connections.opened}`,
      passed: connections.opened === connections.attempted,
    },
    // Reconnecting, a drop is part of the test; what counts is that every device came back.
    options.reconnect
      ? {
          name: 'devices connected at the end',
          phase: null,
          limit: `${connections.opened}`,
          actual: `${connections.connectedAtEnd ?? '—'}`,
          passed: connections.connectedAtEnd === null || connections.connectedAtEnd >= connections.opened,
        }
      : {
          name: 'connections dropped during the run',
          phase: null,
          limit: '0',
          actual: `${connections.closedDuringRun}`,
          passed: connections.closedDuringRun === 0,
        },
    {
      name: 'frames not matching the contract',
      phase: null,
      limit: '0',
      actual: `${connections.invalidFrames}`,
      passed: connections.invalidFrames === 0,
    },
  ];
  // Delivery to a device that is not in the chat would be a leak, whatever the load.
  const leaks = phases.reduce((n, p) => n + p.counts.unexpected, 0);
  checks.push({
    name: 'deliveries to non-members',
    phase: null,
    limit: '0',
    actual: `${leaks}`,
    passed: leaks === 0,
  });
  if (verification) checks.push(...verificationChecks(options, verification));
  for (const p of phases) {
    if (p.kind === 'ramp-step') continue;
    const l = p.latencyMs;
    const none = l.count === 0;
    const latency = (name: string, limit: number | undefined, actual: number) => {
      if (limit === undefined) return;
      checks.push({
        name,
        phase: p.name,
        limit: `≤ ${ms(limit)}`,
        actual: none ? 'no deliveries' : ms(actual),
        passed: !none && actual <= limit,
      });
    };
    latency('avg delivery latency', options.maxAvgMs, l.avg);
    latency('p95 delivery latency', options.maxP95Ms, l.p95);
    latency('p99 delivery latency', options.maxP99Ms, l.p99);
    if (options.minDelivery !== undefined) {
      const ratio = p.deliveryRatio ?? 0;
      checks.push({
        name: 'deliveries received',
        phase: p.name,
        limit: `≥ ${pct(options.minDelivery)}`,
        actual: p.deliveryRatio === null ? 'nothing expected' : pct(ratio),
        passed: p.deliveryRatio !== null && ratio >= options.minDelivery,
      });
    }
  }
  return checks;
}

/** The end of a run under failures: nothing acked may be missing, or stored twice. */
function verificationChecks(options: LoadOptions, v: Verification): Check[] {
  const checks: Check[] = [];
  if (options.maxMissing !== undefined) {
    checks.push({
      name: "acked messages missing on members' devices at the end",
      phase: null,
      limit: `≤ ${options.maxMissing}`,
      actual:
        `${v.deliveries.missing}` +
        (v.missingOnServer === null
          ? ''
          : ` (${v.missingOnServer} on the server, ${v.missingNotOnServer} not)`),
      passed: v.deliveries.missing <= options.maxMissing,
    });
  }
  checks.push({
    name: 'messages stored twice (duplicates after dedupe)',
    phase: null,
    limit: '0',
    actual: `${v.duplicates.afterDedupe}`,
    passed: v.duplicates.afterDedupe === 0,
  });
  if (v.notRetrievable) {
    checks.push({
      name: 'acked messages a member cannot read over REST',
      phase: null,
      limit: '0',
      actual: `${v.notRetrievable.messages}`,
      passed: v.notRetrievable.messages === 0,
    });
    checks.push({
      name: 'final check: chats that could not be read',
      phase: null,
      limit: '0',
      actual: `${v.check.failedReads}`,
      passed: v.check.failedReads === 0,
    });
  }
  return checks;
}
