/**
 * A small load test against a real Parley server started in this process (PGlite, or a
 * fresh PostgreSQL database when DATABASE_URL / TEST_DATABASE_URL is set, exactly like
 * the backend tests). It goes through the same path as the CLI: options parsed from
 * arguments, users registered over HTTP, devices over WebSocket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../backend/test/support/server.js';
import { parseOptions } from '../src/options.js';
import type { Report } from '../src/report.js';
import { renderHtml } from '../src/report-html.js';
import { renderText } from '../src/report-text.js';
import { runLoadTest } from '../src/run.js';

let server: TestServer;
let report: Report;
const logs: string[] = [];

beforeAll(async () => {
  // The default policy: direct chats between strangers start as requests the tool accepts.
  server = await startTestServer({ LOG_LEVEL: 'warn', DIRECT_CHAT_POLICY: 'requests' });
  // The drain ends as soon as everything has arrived; its length and the p99 threshold are
  // safety nets for a busy machine (this checks that nothing is lost, not how fast it goes).
  const parsed = parseOptions([
    ...['--url', server.url, '--users', '20', '--devices', '2', '--rate', '8', '--duration', '5'],
    ...['--group-size', '5', '--direct-share', '0.3', '--drain', '60', '--seed', '7'],
    ...['--max-p99-ms', '60000', '--min-delivery', '100%'],
  ]);
  if (parsed.help) throw new Error('unexpected --help');
  report = await runLoadTest(parsed.options, { log: (line) => logs.push(line), progress: () => undefined });
}, 240_000);

afterAll(async () => {
  await server?.close();
});

describe('a small load test against a real server', () => {
  it('prepares users and chats and connects every device', () => {
    expect(report.population).toMatchObject({ users: 20, devicesPerUser: 2, groups: 4, directChats: 10 });
    expect(report.connections).toMatchObject({ attempted: 40, opened: 40, failed: 0, closedDuringRun: 0 });
    expect(report.connections.invalidFrames).toBe(0);
  });

  it('sends on schedule and every send is acked', () => {
    const [phase] = report.phases;
    expect(report.phases).toHaveLength(1);
    const c = phase!.counts;
    expect(c.scheduled).toBe(40);
    expect(c.sent).toBe(c.scheduled);
    expect(c.acked).toBe(c.sent);
    expect(c.rejected + c.unanswered + c.notSent).toBe(0);
    expect(phase!.achievedRate).toBe(8);
    expect(phase!.ackLatencyMs.count).toBe(c.acked);
  });

  it('receives every expected delivery exactly once, in order', () => {
    const c = report.phases[0]!.counts;
    // Each message goes to every device of every member but the sending device: 2 × members − 1.
    expect(c.expected).toBeGreaterThanOrEqual(c.scheduled * 3);
    expect(c.received).toBe(c.expected);
    expect(c.missing).toBe(0);
    expect(c.duplicates).toBe(0);
    expect(c.outOfOrder).toBe(0);
    expect(c.unexpected).toBe(0);
    // The sending device gets its own message back too; that is not a delivery.
    expect(c.echoes).toBe(c.scheduled);
    expect(report.phases[0]!.deliveryRatio).toBe(1);
    expect(report.lateDeliveries).toBe(0);
    expect(report.connections.framesByType['message:new']).toBe(c.received + c.echoes);
  });

  it('measures latency for every delivery and samples the server', () => {
    const p = report.phases[0]!;
    expect(p.latencyMs.count).toBe(p.counts.received);
    expect(p.latencyMs.min).toBeGreaterThan(0);
    expect(p.latencyMs.p50).toBeLessThanOrEqual(p.latencyMs.p99);
    expect(p.latencyMs.p99).toBeLessThanOrEqual(p.latencyMs.max);
    expect(p.timeline.reduce((n, s) => n + s.received, 0)).toBe(p.counts.received);
    expect(p.distribution.counts.reduce((a, b) => a + b, 0)).toBe(p.counts.received);
    expect(report.server.sampled).toBe(true);
    expect(p.server?.rssMaxBytes).toBeGreaterThan(0);
  });

  it('ends with every acked message on every device, with nothing to recover', () => {
    const c = report.connections;
    expect(c).toMatchObject({ reconnectAttempts: 0, resyncs: 0, duplicateAcks: 0, connectedAtEnd: 40 });
    expect(c.recovery).toMatchObject({ resyncs: 0, restFailures: 0 });
    const v = report.verification!;
    expect(v).toMatchObject({
      mode: 'devices',
      ackedMessages: 40,
      missingOnServer: 0,
      missingNotOnServer: 0,
    });
    expect(v.deliveries).toMatchObject({
      expected: report.phases[0]!.counts.expected,
      missing: 0,
      resume: 0,
    });
    expect(v.notRetrievable).toEqual({ messages: 0, pairs: 0 });
    expect(v.duplicates).toEqual({ raw: 0, afterDedupe: 0 });
    expect(v.check).toMatchObject({ readers: 40, failedReads: 0 });
  });

  it('passes its thresholds and renders both reports without external assets', () => {
    expect(report.checks.filter((c) => !c.passed)).toEqual([]);
    expect(report.passed).toBe(true);
    const text = renderText(report);
    expect(text).toMatch(/PASSED/);
    expect(text).toContain(`${report.phases[0]!.counts.expected}`);
    const html = renderHtml(report);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|<link|\ssrc=|\shref=|url\(/i);
  });
});
