/**
 * One load test from start to end: prepare users and chats, connect every device, run
 * the fixed-rate phases (steady, then spike) and the ramp, look for every acked message
 * on every member's devices (unless --no-reconnect and --verify off), then close and
 * build the report. Every loop ends by count or by deadline; an abort signal stops it
 * early with a partial report.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ApiClient, sleep } from './api.js';
import { Fleet, targetOf } from './devices.js';
import { machineCpuPercent, machineCpuTimes, MetricsSampler, summarizeWindow } from './metrics.js';
import { isLoopbackHost, type LoadOptions } from './options.js';
import { preparePopulation, type Population } from './prepare.js';
import { findMaxRate, type RampResult } from './ramp.js';
import { evaluateChecks, REPORT_VERSION, type PhaseReport, type Report } from './report.js';
import { seededRandom, sendTime, shuffled, totalMessages } from './schedule.js';
import { MessageReader, Recovery } from './recovery.js';
import { TokenBook } from './session.js';
import { Ledger, PhaseStats, type PhaseSpec } from './stats.js';
import { verifyDeliveries, type Verification } from './verify.js';

export interface RunIo {
  /** One-off lines (preparation steps, phase results). */
  log(line: string): void;
  /** The live progress line; called about once a second while sending. */
  progress?(line: string): void;
  signal?: AbortSignal;
}

/** Sampling interval of the generator's event-loop delay histogram. */
const ELD_RESOLUTION_MS = 10;
/** Longest wait for things to go quiet between ramp steps. */
const SETTLE_MAX_MS = 10_000;
/** "Quiet" means no message:new for this long. */
const SETTLE_QUIET_MS = 1_000;
/** REST reads in flight at once (re-syncs, gap fills, the final check), over all devices. */
const REST_CONCURRENCY = 16;

export async function runLoadTest(options: LoadOptions, io: RunIo, warnings: string[] = []): Promise<Report> {
  const startedAt = new Date();
  const t0 = performance.now();
  const runId = randomBytes(3).toString('hex');
  // Several --url's are nodes of one cluster: the preparation goes to the first, devices
  // are spread over all of them, and the server metrics add all of them up.
  const urls = options.urls;
  const api = new ApiClient(urls[0]!);
  const loopback = urls.every((u) => isLoopbackHost(new URL(u).hostname));
  const aborted = () => io.signal?.aborted === true;

  const apis = urls.map((u, i) => (i === 0 ? api : new ApiClient(u)));
  const sampler = new MetricsSampler(apis, t0);
  const sampleServer = loopback || options.serverMetrics;
  if (sampleServer) await sampler.sample();

  io.log(`run ${runId}: preparing ${options.users} users through ${urls[0]}`);
  const population = await preparePopulation(api, options, runId, io.log, aborted);
  io.log(
    `prepared ${population.users.length} users in ${(population.registerMs / 1000).toFixed(1)} s, ` +
      `${population.chats.length} chats in ${(population.chatsMs / 1000).toFixed(1)} s`,
  );

  const ledger = new Ledger(`lt:${runId}:`);
  const open = new Set<PhaseStats>();
  const fleet = new Fleet(urls.map(targetOf), ledger, (p) => open.has(p), {
    reconnect: options.reconnect,
    retry: { maxTries: options.maxSendTries, timeoutMs: options.sendTimeout * 1000 },
    messageSize: options.messageSize,
    connectConcurrency: options.connectConcurrency,
  });
  // What a client needs to recover: tokens that stay valid, and REST reads of its chats
  // (first from the server the device is on, then the next ones).
  const tokens = new TokenBook(
    population.users.map((u) => ({
      username: u.username,
      password: population.password,
      accessToken: u.token,
      accessTokenExpiresAt: u.tokenExpiresAt,
      refreshToken: u.refreshToken,
    })),
    apis,
  );
  const reader = new MessageReader(apis, tokens, REST_CONCURRENCY);
  const chatsOfUser = population.users.map(() => [] as string[]);
  for (const chat of population.chats) for (const u of chat.members) chatsOfUser[u]!.push(chat.id);
  const baseSeqs = new Map(population.chats.map((c) => [c.id, c.baseSeq]));
  const baseSeq = (chatId: string) => baseSeqs.get(chatId) ?? 0;
  fleet.attach(
    tokens,
    new Recovery(reader, {
      chatsOf: (device) => chatsOfUser[fleet.devices[device]!.user] ?? [],
      baseSeq,
      userOf: (device) => fleet.devices[device]!.user,
      nodeOf: (device) => fleet.devices[device]!.current,
      deliver: (device, message, at) => fleet.deliver(device, message, at, 'rest'),
    }),
  );
  let verification: Verification | null = null;
  const phases: PhaseReport[] = [];
  let ramp: RampResult | null = null;
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();
  let progressTimer: NodeJS.Timeout | undefined;

  try {
    await fleet.connect(
      population.users.map((u) => u.token),
      options.devices,
      options.connectConcurrency,
      io.log,
      aborted,
    );
    io.log(
      `connected ${fleet.counts.opened}/${fleet.counts.attempted} devices (${fleet.counts.failed} failed)` +
        (urls.length > 1
          ? `: ${fleet.counts.byUrl.map((u) => `${u.opened}/${u.attempted} to ${u.url}`).join(', ')}`
          : ''),
    );
    if (fleet.counts.opened === 0) throw new Error('no device could connect; nothing to measure');

    const { sender, members } = buildSender(population, fleet, ledger, options);
    if (sampleServer) {
      await sampler.sample();
      sampler.start();
    }
    // --idle-gap: connected and sending nothing, so what an outside script reads now
    // (database statistics, /metrics) is the state between two steps, not part of either.
    // Not around ramp steps: their counters are not read one by one, and the ramp settles
    // between steps anyway.
    const holdStill = async () => {
      const until = performance.now() + options.idleGap * 1000;
      while (performance.now() < until && !aborted()) await sleep(Math.min(100, until - performance.now()));
    };
    await holdStill();

    let current: PhaseStats | undefined;
    progressTimer = setInterval(() => {
      if (current && io.progress) io.progress(progressLine(current, fleet, (performance.now() - t0) / 1000));
    }, 1_000);
    progressTimer.unref();

    const runPhase = async (spec: PhaseSpec): Promise<PhaseReport> => {
      const stats = new PhaseStats(spec);
      current = stats;
      const report = await runOnePhase(stats, { ledger, open, sender, options, t0, eld, aborted });
      stats.destroy();
      phases.push(report);
      io.log(phaseLine(report));
      if (spec.kind !== 'ramp-step') await holdStill();
      return report;
    };

    if (options.duration > 0 && !aborted()) {
      await runPhase({
        name: `steady ${options.rate}/s`,
        kind: 'steady',
        rate: options.rate,
        durationS: options.duration,
        rampUpS: options.rampUp,
      });
    }
    if (options.spikeRate > 0 && !aborted()) {
      await settle(ledger, aborted);
      await runPhase({
        name: `spike ${options.spikeRate}/s`,
        kind: 'spike',
        rate: options.spikeRate,
        durationS: options.spikeDuration,
        rampUpS: 0,
      });
    }
    if (options.ramp && !aborted()) {
      ramp = await findMaxRate(
        {
          startRate: options.rampStart,
          factor: options.rampFactor,
          maxSteps: options.rampSteps,
          refineSteps: options.rampRefine,
          maxRate: options.rampMaxRate,
          p99BoundMs: options.rampP99Ms,
        },
        async (rate, stepNo) => {
          await settle(ledger, aborted);
          const r = await runPhase({
            name: `ramp step ${stepNo}: ${rate}/s`,
            kind: 'ramp-step',
            rate,
            durationS: options.rampStepDuration,
            rampUpS: 0,
          });
          return {
            rate,
            p99Ms: r.latencyMs.p99,
            missing: r.counts.missing,
            failedSends: r.counts.notSent + r.counts.rejected + r.counts.unanswered,
            received: r.counts.received,
          };
        },
        aborted,
      );
      io.log(
        `ramp: highest rate with p99 ≤ ${options.rampP99Ms} ms and nothing lost: ` +
          `${ramp.maxSustainedRate === null ? 'none' : `${ramp.maxSustainedRate}/s`} (${ramp.stoppedBecause})`,
      );
    }
    current = undefined;

    // The end of a run under failures: wait for reconnects, retries and REST reads to end,
    // then look for every acked message on every member's devices.
    if ((options.reconnect || options.verify !== 'off') && !aborted()) {
      const settled = await fleet.settle(performance.now() + Math.max(10, options.drain) * 1000, aborted);
      if (!settled)
        io.log('still reconnecting, retrying or re-syncing at the end of the wait; checking anyway');
      const verdict = ledger.verdict();
      if (options.verify !== 'off') {
        io.log(
          `final check over REST (${options.verify === 'devices' ? 'every device' : 'one device per user'}): ` +
            `${verdict.ackedMessages} acked messages, ${verdict.missing} deliveries not received`,
        );
      }
      const raw = {
        duplicates: ledger.duplicates,
        retriedSends: ledger.retried,
        resends: ledger.resends,
        duplicateAcks: fleet.counts.duplicateAcks,
      };
      verification = await verifyDeliveries({
        ledger,
        verdict,
        mode: options.verify,
        reconnect: options.reconnect,
        devices: fleet.devices,
        members,
        chatsOfUser,
        baseSeq,
        reader,
        concurrency: REST_CONCURRENCY,
        raw,
        progress: io.log,
        stop: aborted,
      });
      io.log(verificationLine(verification));
    }
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    eld.disable();
    if (sampleServer) {
      await sampler.stop();
      await sampler.sample();
    }
    await fleet.close();
  }
  if (sampleServer) await sampler.sample();
  // Now that the samples after the last phase are in, each phase's window has both anchors.
  for (const p of phases) {
    p.server = sampleServer ? summarizeWindow(sampler.samples, p.startedAtMs, p.endedAtMs) : null;
    // Only meaningful when the server runs here and was measured.
    if (loopback && p.server?.cpuPercentAvg !== undefined) {
      p.machine.otherCpuPercent = round1(
        Math.max(0, p.machine.cpuPercent - p.server.cpuPercentAvg - p.generator.cpuPercent),
      );
    }
  }

  const groups = population.chats.filter((c) => c.kind === 'group');
  const checks = evaluateChecks(options, fleet.counts, phases, verification);
  const finished = new Date();
  const cpus = os.cpus();
  return {
    tool: 'parley-load',
    reportVersion: REPORT_VERSION,
    runId,
    startedAt: startedAt.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: round1((performance.now() - t0) / 1000),
    interrupted: aborted(),
    target: { url: urls[0]!, urls, loopback },
    options,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      totalMemoryBytes: os.totalmem(),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.version,
    },
    population: {
      users: population.users.length,
      devicesPerUser: options.devices,
      groups: groups.length,
      directChats: population.chats.length - groups.length,
      avgGroupMembers: groups.length
        ? round1(groups.reduce((n, g) => n + g.members.length, 0) / groups.length)
        : 0,
      registerS: round1(population.registerMs / 1000),
      chatsS: round1(population.chatsMs / 1000),
    },
    connections: { ...fleet.counts, connectMs: fleet.connectLatency.summary() },
    phases,
    ramp,
    server: {
      sampled: sampleServer && sampler.available,
      failures: sampler.failures,
      samples: sampler.samples,
    },
    lateDeliveries: ledger.late,
    foreignMessages: ledger.foreign,
    verification,
    warnings,
    checks,
    passed: !aborted() && checks.every((c) => c.passed),
  };
}

interface Sender {
  /** Schedules message for `at` in the phase, writes it, and records the outcome. */
  send(stats: PhaseStats, at: number): void;
}

/**
 * Who sends what: users take turns in a seeded shuffled order (so a user sends once per
 * `users / rate` seconds, far below the server's per-user limit in realistic runs), each
 * through their devices in turn, into their direct chat with probability --direct-share,
 * else their group. The devices connected now are the run's: senders and recipients
 * (`members`).
 */
function buildSender(
  population: Population,
  fleet: Fleet,
  ledger: Ledger,
  options: LoadOptions,
): { sender: Sender; members: Set<number> } {
  const devicesOf = new Map<number, number[]>();
  for (const d of fleet.devices) {
    // Reconnecting, a device that dropped since it connected is still in the run (it comes back).
    if (!(options.reconnect ? d.opened : d.ready)) continue;
    devicesOf.set(d.user, [...(devicesOf.get(d.user) ?? []), d.index]);
  }
  for (const chat of population.chats) {
    ledger.setChatDevices(
      chat.id,
      chat.members.flatMap((u) => devicesOf.get(u) ?? []),
    );
  }
  const random = seededRandom(options.seed);
  const order = shuffled(
    [...devicesOf.keys()].sort((a, b) => a - b),
    random,
  );
  const { groupOf, directOf } = population.layout;
  let turn = 0;
  const members = new Set([...devicesOf.values()].flat());
  const sender: Sender = {
    send(stats, at) {
      const user = order[turn % order.length]!;
      const devices = devicesOf.get(user)!;
      const device = fleet.devices[devices[Math.floor(turn / order.length) % devices.length]!]!;
      turn += 1;
      const wantDirect = random() < options.directShare;
      const primary = wantDirect ? directOf[user]! : groupOf[user]!;
      // A layout without that kind of chat (share 0 or 1) falls back to the other kind.
      const chatIndex = primary >= 0 ? primary : wantDirect ? groupOf[user]! : directOf[user]!;
      const chat = population.chats[chatIndex]!;
      // One clientMsgId per message (the ledger's), the same on every retry: stored once.
      fleet.submit(ledger.schedule(stats, chat.id, device.index, at));
    },
  };
  return { sender, members };
}

interface PhaseContext {
  ledger: Ledger;
  open: Set<PhaseStats>;
  sender: Sender;
  options: LoadOptions;
  t0: number;
  eld: ReturnType<typeof monitorEventLoopDelay>;
  aborted: () => boolean;
}

async function runOnePhase(stats: PhaseStats, ctx: PhaseContext): Promise<PhaseReport> {
  const { spec } = stats;
  const shape = { rate: spec.rate, durationS: spec.durationS, rampUpS: spec.rampUpS };
  const total = totalMessages(shape);
  ctx.open.add(stats);
  ctx.eld.reset();
  const cpu0 = process.cpuUsage();
  const machine0 = machineCpuTimes();
  // A short lead so the first sends are not late from the start.
  const startAt = performance.now() + 20;
  stats.startAt = startAt;
  const dueAt = (i: number) => startAt + sendTime(shape, i) * 1000;

  // Open loop: send everything that is due, then sleep until the next one is. The loop
  // ends after `total` messages whatever the server does.
  let i = 0;
  while (i < total && !ctx.aborted()) {
    const now = performance.now();
    while (i < total && dueAt(i) <= now) {
      ctx.sender.send(stats, dueAt(i));
      i += 1;
    }
    if (i >= total) break;
    const wait = dueAt(i) - performance.now();
    await sleep(Math.max(0, Math.min(20, wait)));
  }
  const sendEnd = Math.max(performance.now(), startAt + spec.durationS * 1000);
  while (performance.now() < startAt + spec.durationS * 1000 && !ctx.aborted()) {
    await sleep(Math.min(50, startAt + spec.durationS * 1000 - performance.now()));
  }

  // Drain: wait for the last acks and deliveries, up to --drain seconds.
  const deadline = sendEnd + ctx.options.drain * 1000;
  while (!ctx.ledger.settled(stats) && performance.now() < deadline && !ctx.aborted()) await sleep(50);
  ctx.open.delete(stats);
  const endAt = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const machineCpu = machineCpuPercent(machine0, machineCpuTimes());
  const counts = stats.close();
  const elapsedMs = endAt - startAt;
  return {
    ...spec,
    startedAtMs: round1(startAt - ctx.t0),
    endedAtMs: round1(endAt - ctx.t0),
    achievedRate: round1(counts.sent / spec.durationS),
    counts,
    deliveryRatio: counts.expected > 0 ? counts.received / counts.expected : null,
    latencyMs: stats.delivery.summary(),
    ackLatencyMs: stats.ack.summary(),
    distribution: stats.delivery.distribution(),
    timeline: stats.timeline(),
    server: null,
    generator: {
      cpuPercent: round1(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100),
      // The histogram's values include its own sampling interval; what is left is the delay.
      eventLoopDelayP99Ms: round1(Math.max(0, ctx.eld.percentile(99) / 1e6 - ELD_RESOLUTION_MS)),
      eventLoopDelayMaxMs: round1(Math.max(0, ctx.eld.max / 1e6 - ELD_RESOLUTION_MS)),
      maxSendLagMs: round1(stats.maxSendLagMs),
    },
    machine: { cpuPercent: machineCpu, otherCpuPercent: null },
  };
}

/** Waits until deliveries have stopped arriving, so one phase's backlog is not the next one's latency. */
async function settle(ledger: Ledger, aborted: () => boolean): Promise<void> {
  const deadline = performance.now() + SETTLE_MAX_MS;
  while (performance.now() < deadline && !aborted()) {
    if (performance.now() - ledger.lastReceiveAt >= SETTLE_QUIET_MS) return;
    await sleep(100);
  }
}

function progressLine(stats: PhaseStats, fleet: Fleet, elapsedS: number): string {
  const c = stats.counts;
  const phaseS = Math.max(0.001, (performance.now() - stats.startAt) / 1000);
  const ready = fleet.devices.filter((d) => d.ready).length;
  const f = fleet.counts;
  const failures = f.reconnectAttempts
    ? ` (${f.closedDuringRun} dropped, ${f.reconnects} reconnects, ${f.resyncs} resyncs, ${c.resends} resends)`
    : '';
  return (
    `[${elapsedS.toFixed(0)}s] ${stats.spec.name}: sent ${c.sent} (${(c.sent / phaseS).toFixed(1)}/s) ` +
    `acked ${c.acked} rejected ${c.rejected} | conns ${ready}/${f.attempted}${failures} | ` +
    `delivered ${c.received}/${c.expected} | p99 ${stats.delivery.percentile(99).toFixed(1)} ms`
  );
}

function verificationLine(v: Verification): string {
  const d = v.deliveries;
  const server =
    v.missingOnServer === null ? '' : ` (${v.missingOnServer} on the server, ${v.missingNotOnServer} not)`;
  return (
    `acked ${v.ackedMessages}: deliveries ${d.expected} expected, ${d.live} live, ${d.resume} on resume, ` +
    `${d.rest} over REST, ${d.missing} missing${server}` +
    (v.notRetrievable ? `; ${v.notRetrievable.messages} acked messages not readable over REST` : '')
  );
}

function phaseLine(r: PhaseReport): string {
  const c = r.counts;
  const ratio = r.deliveryRatio === null ? '—' : `${(r.deliveryRatio * 100).toFixed(3)} %`;
  return (
    `${r.name}: sent ${c.sent}, acked ${c.acked}, delivered ${c.received}/${c.expected} (${ratio}), ` +
    `p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms, max ${r.latencyMs.max.toFixed(1)} ms`
  );
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
