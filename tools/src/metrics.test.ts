import { describe, expect, it } from 'vitest';
import {
  combineSamples,
  machineCpuPercent,
  metricValue,
  parseSample,
  summarizeWindow,
  type ServerSample,
} from './metrics.js';

const text = `# HELP parley_process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE parley_process_cpu_seconds_total counter
parley_process_cpu_seconds_total 12.5
parley_process_cpu_seconds_total_extra 99
# TYPE parley_process_resident_memory_bytes gauge
parley_process_resident_memory_bytes 123456789
parley_nodejs_eventloop_lag_p99_seconds 0.0125
parley_ws_connections{node="a"} 1000
`;

describe('server metrics', () => {
  it('reads plain and labelled samples from the Prometheus text format', () => {
    expect(metricValue(text, 'parley_process_cpu_seconds_total')).toBe(12.5);
    expect(metricValue(text, 'parley_ws_connections')).toBe(1000);
    expect(metricValue(text, 'parley_missing')).toBeUndefined();
    expect(parseSample(text, 5)).toEqual({
      t: 5,
      cpuSeconds: 12.5,
      rssBytes: 123456789,
      wsConnections: 1000,
      eventLoopLagP99Ms: 12.5,
    });
    expect(parseSample('nothing here', 0)).toBeUndefined();
  });

  it('turns CPU seconds into a percentage of one core over a window', () => {
    const s = (t: number, cpuSeconds: number, rss: number): ServerSample => ({
      t,
      cpuSeconds,
      rssBytes: rss,
      wsConnections: undefined,
      eventLoopLagP99Ms: undefined,
    });
    // 0.5 s of CPU per second, then a full core for 2 s.
    const samples = [s(0, 10, 100), s(2000, 11, 300), s(4000, 12, 200), s(6000, 14, 250)];
    const w = summarizeWindow(samples, 2000, 6000);
    expect(w.samples).toBe(2);
    expect(w.cpuPercentAvg).toBe(75);
    expect(w.cpuPercentMax).toBe(100);
    expect(w.rssStartBytes).toBe(300);
    expect(w.rssMaxBytes).toBe(300);
    expect(w.rssEndBytes).toBe(250);
    expect(summarizeWindow([], 0, 1000).cpuPercentAvg).toBeUndefined();
  });

  it('never shows negative CPU when a server restarted between two samples', () => {
    const s = (t: number, nodes: number[]): ServerSample => ({
      t,
      cpuSeconds: nodes.reduce((a, b) => a + b, 0),
      rssBytes: 1,
      wsConnections: undefined,
      eventLoopLagP99Ms: undefined,
      nodes: nodes.map((cpuSeconds) => ({ cpuSeconds, rssBytes: 1, wsConnections: undefined })),
    });
    // Node 2 restarts between 2 s and 4 s: its counter starts again from 0.5 s of CPU.
    const samples = [s(0, [10, 20]), s(2000, [11, 21]), s(4000, [12, 0.5]), s(6000, [13, 1.5])];
    const w = summarizeWindow(samples, 0, 6000);
    expect(w.cpuPercentAvg).toBe(Math.round(((2 + 1 + 1 + 0.5 + 1) / 6) * 1000) / 10);
    expect(w.cpuPercentMax).toBe(100);
    // One server (no per-node readings): the same rule on the total.
    const single = samples.map(({ nodes: _nodes, ...rest }) => rest);
    expect(summarizeWindow(single, 2000, 4000).cpuPercentAvg).toBeGreaterThan(0);
  });

  it('anchors a window on the samples around it, so a stall without samples still counts', () => {
    const s = (t: number, cpuSeconds: number): ServerSample => ({
      t,
      cpuSeconds,
      rssBytes: 1,
      wsConnections: undefined,
      eventLoopLagP99Ms: undefined,
    });
    // No sample inside 1 s..5 s (the server was too busy to answer): 4 s of CPU in 4 s.
    expect(summarizeWindow([s(1000, 1), s(5000, 5)], 1500, 4500).cpuPercentAvg).toBe(100);
  });

  it('adds up the servers of a cluster into one sample and keeps each one beside it', () => {
    const node = (cpuSeconds: number, rssBytes: number, ws: number | undefined, lag?: number) => ({
      t: 0,
      cpuSeconds,
      rssBytes,
      wsConnections: ws,
      eventLoopLagP99Ms: lag,
    });
    const one = node(1, 2, 3, 11);
    expect(combineSamples([one], 7)).toEqual({ ...one, t: 7 });
    const sum = combineSamples([node(1, 100, 10, 11), node(2, 200, 20, 15), node(3, 300, 30)], 9);
    expect(sum).toMatchObject({
      t: 9,
      cpuSeconds: 6,
      rssBytes: 600,
      wsConnections: 60,
      eventLoopLagP99Ms: 15,
    });
    expect(sum.nodes).toEqual([
      { cpuSeconds: 1, rssBytes: 100, wsConnections: 10 },
      { cpuSeconds: 2, rssBytes: 200, wsConnections: 20 },
      { cpuSeconds: 3, rssBytes: 300, wsConnections: 30 },
    ]);
    // A node that does not report its sockets leaves the sum unknown rather than too small.
    expect(combineSamples([node(1, 1, 5), node(1, 1, undefined)], 0).wsConnections).toBeUndefined();
  });

  it('expresses machine CPU in cores × 100, like the server and the generator', () => {
    // 2 cores, 1000 ms each: 1500 ms busy in all = 1.5 cores.
    expect(machineCpuPercent({ busyMs: 0, totalMs: 0 }, { busyMs: 1500, totalMs: 2000 }, 2)).toBe(150);
    expect(machineCpuPercent({ busyMs: 5, totalMs: 10 }, { busyMs: 5, totalMs: 10 }, 2)).toBe(0);
  });
});
