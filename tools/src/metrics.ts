/**
 * The server's own view, from its Prometheus endpoint (GET /metrics): process CPU seconds
 * and resident memory (prom-client's process metrics), open WebSockets and event-loop lag.
 * Sampled before, periodically during and after the run; CPU % is the CPU seconds used
 * between two samples over the wall time between them (100 % = one core). With several
 * servers (nodes) every sample reads them all and adds them up: "the server" is then the
 * cluster, and each node's share is kept beside the sum.
 */
import os from 'node:os';
import type { ApiClient } from './api.js';

export interface ServerSample {
  /** ms since the run started. */
  t: number;
  cpuSeconds: number;
  rssBytes: number;
  wsConnections: number | undefined;
  eventLoopLagP99Ms: number | undefined;
  /** CPU seconds used by every process on this (the generator's) machine so far. */
  machineBusySeconds?: number;
  /** With several servers: each one's reading, in --url order (the fields above are their sum). */
  nodes?: NodeSample[];
}

export interface NodeSample {
  cpuSeconds: number;
  rssBytes: number;
  wsConnections: number | undefined;
}

/** Finds `name` (no labels, or the first labelled series) in Prometheus text format. */
export function metricValue(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    // "name 1.5" or "name{label="x"} 1.5", optionally followed by a timestamp.
    const afterLabels = rest[0] === '{' ? rest.slice(rest.lastIndexOf('}') + 1) : rest;
    const value = Number(afterLabels.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) return value;
  }
  return undefined;
}

export function parseSample(text: string, t: number): ServerSample | undefined {
  const cpuSeconds = metricValue(text, 'parley_process_cpu_seconds_total');
  const rssBytes = metricValue(text, 'parley_process_resident_memory_bytes');
  if (cpuSeconds === undefined || rssBytes === undefined) return undefined;
  const lag = metricValue(text, 'parley_nodejs_eventloop_lag_p99_seconds');
  return {
    t,
    cpuSeconds,
    rssBytes,
    wsConnections: metricValue(text, 'parley_ws_connections'),
    eventLoopLagP99Ms: lag === undefined ? undefined : lag * 1000,
  };
}

/**
 * One sample of a cluster from one sample per node: CPU seconds, memory and sockets add
 * up, the event-loop lag is the worst node's. A single node is returned as it is.
 */
export function combineSamples(parts: ServerSample[], t: number): ServerSample {
  if (parts.length === 1) return { ...parts[0]!, t };
  const sum = (pick: (s: ServerSample) => number | undefined) => {
    const values = parts.map(pick);
    return values.every((v) => v !== undefined) ? values.reduce((a, b) => a! + b!, 0) : undefined;
  };
  const lags = parts.map((s) => s.eventLoopLagP99Ms).filter((v): v is number => v !== undefined);
  return {
    t,
    cpuSeconds: sum((s) => s.cpuSeconds)!,
    rssBytes: sum((s) => s.rssBytes)!,
    wsConnections: sum((s) => s.wsConnections),
    eventLoopLagP99Ms: lags.length ? Math.max(...lags) : undefined,
    nodes: parts.map((s) => ({
      cpuSeconds: s.cpuSeconds,
      rssBytes: s.rssBytes,
      wsConnections: s.wsConnections,
    })),
  };
}

export interface ServerWindow {
  samples: number;
  cpuPercentAvg: number | undefined;
  cpuPercentMax: number | undefined;
  rssStartBytes: number | undefined;
  rssEndBytes: number | undefined;
  rssMaxBytes: number | undefined;
  eventLoopLagP99MaxMs: number | undefined;
}

/**
 * Summary of the samples between `from` and `to` (ms since run start). CPU seconds are
 * cumulative, so the last sample before the window and the first one after it anchor
 * the average: a sample that could not be taken while the server was stalled does not
 * make the stall disappear from the average.
 */
export function summarizeWindow(all: ServerSample[], from: number, to: number): ServerWindow {
  const before = all.filter((s) => s.t <= from).at(-1);
  const inside = all.filter((s) => s.t > from && s.t <= to);
  const after = all.find((s) => s.t > to);
  const series = [...(before ? [before] : []), ...inside, ...(after ? [after] : [])];
  const rates: number[] = [];
  let used = 0;
  for (let i = 1; i < series.length; i++) {
    const dt = (series[i]!.t - series[i - 1]!.t) / 1000;
    const cpu = cpuSecondsBetween(series[i - 1]!, series[i]!);
    used += cpu;
    if (dt > 0) rates.push((cpu / dt) * 100);
  }
  const first = series[0];
  const last = series.at(-1);
  const lags = inside.map((s) => s.eventLoopLagP99Ms).filter((v): v is number => v !== undefined);
  return {
    samples: inside.length,
    cpuPercentAvg:
      first && last && last.t > first.t ? round1((used / ((last.t - first.t) / 1000)) * 100) : undefined,
    cpuPercentMax: rates.length ? round1(Math.max(...rates)) : undefined,
    rssStartBytes: first?.rssBytes,
    rssEndBytes: last?.rssBytes,
    rssMaxBytes: series.length ? Math.max(...series.map((s) => s.rssBytes)) : undefined,
    eventLoopLagP99MaxMs: lags.length ? round1(Math.max(...lags)) : undefined,
  };
}

/**
 * CPU seconds the server(s) used between two samples. The counter is cumulative per
 * process: one that went down is a server that restarted in between (a node killed and
 * started again), whose CPU since its start is all it used (what the old process used
 * after the earlier sample is lost). Node by node when both samples have the same nodes.
 */
export function cpuSecondsBetween(a: ServerSample, b: ServerSample): number {
  const step = (x: number, y: number) => (y >= x ? y - x : y);
  if (a.nodes && b.nodes && a.nodes.length === b.nodes.length) {
    return a.nodes.reduce((sum, n, i) => sum + step(n.cpuSeconds, b.nodes![i]!.cpuSeconds), 0);
  }
  return step(a.cpuSeconds, b.cpuSeconds);
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * Samples GET /metrics of every server every `intervalMs` until stopped; a sample in which
 * any server did not answer is skipped (a sum missing a node would look like a drop).
 */
export class MetricsSampler {
  readonly samples: ServerSample[] = [];
  failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private busy = false;
  private readonly apis: readonly ApiClient[];

  constructor(
    apis: ApiClient | readonly ApiClient[],
    private readonly t0: number,
    private readonly intervalMs = 2_000,
  ) {
    this.apis = Array.isArray(apis) ? apis : [apis as ApiClient];
  }

  get available(): boolean {
    return this.samples.length > 0;
  }

  /** One sample now (also used for the before/after samples), after any in flight. */
  sample(): Promise<void> {
    this.inFlight = this.inFlight.then(() => this.take());
    return this.inFlight;
  }

  private async take(): Promise<void> {
    this.busy = true;
    try {
      // Generous: a stalled server answers late, and a late sample is still exact.
      const texts = await Promise.all(this.apis.map((api) => api.getText('/metrics', 15_000)));
      const t = performance.now() - this.t0;
      const parts = texts.map((text) => parseSample(text, t));
      if (parts.every((s): s is ServerSample => s !== undefined)) {
        this.samples.push({
          ...combineSamples(parts, t),
          machineBusySeconds: machineCpuTimes().busyMs / 1000,
        });
      } else this.failures += 1;
    } catch {
      this.failures += 1;
    } finally {
      this.busy = false;
    }
  }

  start(): void {
    // A tick while a sample is still out is skipped, so slow answers never pile up.
    this.timer = setInterval(() => {
      if (!this.busy) void this.sample();
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}

/** CPU time of the whole machine so far, summed over its cores (ms). */
export function machineCpuTimes(): { busyMs: number; totalMs: number } {
  let busyMs = 0;
  let totalMs = 0;
  for (const { times } of os.cpus()) {
    const total = times.user + times.nice + times.sys + times.idle + times.irq;
    totalMs += total;
    busyMs += total - times.idle;
  }
  return { busyMs, totalMs };
}

/**
 * CPU used by every process on the machine between two readings, in the same unit as
 * the server's and the generator's (100 = one core). What neither of them used is other
 * work on the machine competing for the same cores.
 */
export function machineCpuPercent(
  from: { busyMs: number; totalMs: number },
  to: { busyMs: number; totalMs: number },
  cores = os.cpus().length,
): number {
  const total = to.totalMs - from.totalMs;
  return total > 0 ? round1(((to.busyMs - from.busyMs) / total) * cores * 100) : 0;
}
