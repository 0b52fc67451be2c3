/**
 * A load test under failures, end to end: a real server reached through two TCP relays
 * (the "nodes" behind two --url's), and while messages flow:
 *
 * 0. relay B drops two connections just as the ack of a send comes back (the server has
 *    stored the message; its sender never hears so): the sends go again after the
 *    reconnect with the same clientMsgId and are answered as duplicates;
 * 1. relay A drops every connection and answers 503 to new ones for 3 s (a draining
 *    node): its devices fail over to relay B (the next --url) and resume there;
 * 2. relay B drops every connection: its devices reconnect to the same URL and resume;
 * 3. the server leaves the rotation (both relays answer 503), drains (its sockets are sent
 *    away with 1001) and restarts on the same database (the embedded inbox is gone, like
 *    a node killed and started again): every device gets sync:resync and re-syncs over
 *    REST, and sends made meanwhile wait and go again with the same clientMsgId.
 *
 * The run must end with every acked message on every member's device, nothing stored
 * twice, every device back, and the verdict passed. The server runs in embedded mode on
 * purpose (no REDIS_URL: its inbox does not survive the restart); the database is PGlite
 * in a directory, or a fresh PostgreSQL database when DATABASE_URL is set.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../backend/src/infra/config.js';
import { startApp, type RunningApp } from '../../backend/src/start-app.js';
import { createTestDatabase, testDbMode, type TestDatabase } from '../../backend/test/support/database.js';
import { testServerEnv } from '../../backend/test/support/server.js';
import { parseOptions } from '../src/options.js';
import type { Report } from '../src/report.js';
import { renderHtml } from '../src/report-html.js';
import { renderText } from '../src/report-text.js';
import { runLoadTest } from '../src/run.js';

/** A TCP relay to a port that can change (a restarted server), which can cut its connections. */
class Relay {
  readonly sockets = new Set<net.Socket>();
  /** Out of the balancer's rotation: new connections are answered 503. */
  offline = false;
  /** Also answered 503 until then (performance.now()), after a cut. */
  private refuseUntil = 0;
  private readonly server: net.Server;
  /** Client sides of the WebSocket connections (the others are REST and /metrics). */
  private readonly ws = new Set<net.Socket>();
  /** WebSocket upgrades relayed so far. */
  wsUpgrades = 0;
  /** WebSockets destroyed by each cut, and connections refused while refusing. */
  readonly cutSizes: number[] = [];
  refused = 0;
  /** Connections to drop when the server answers a new send (the ack is not passed on). */
  dropAcks = 0;
  ackDrops = 0;

  constructor(public target: number) {
    this.server = net.createServer((client) => this.relay(client));
  }

  private relay(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.offline || performance.now() < this.refuseUntil) {
      // As a draining node (or a load balancer without a live one) answers: 503.
      this.refused += 1;
      client.once('data', () =>
        client.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n'),
      );
      return;
    }
    const upstream = net.connect(this.target, '127.0.0.1');
    client.once('data', (chunk: Buffer) => {
      if (!chunk.subarray(0, 8).toString('latin1').startsWith('GET /ws')) return;
      this.wsUpgrades += 1;
      this.ws.add(client);
      client.on('close', () => this.ws.delete(client));
    });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    // Server frames are not masked: the ack of a send that stored a new message reads
    // `"duplicate":false` in clear.
    upstream.on('data', (chunk: Buffer) => {
      if (this.dropAcks > 0 && chunk.includes('"duplicate":false')) {
        this.dropAcks -= 1;
        this.ackDrops += 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  listen(): Promise<string> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () =>
        resolve(`http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`),
      ),
    );
  }

  /** Drops every connection (both ends at once, like a node killed); answers 503 to new ones for refuseMs. */
  cut(refuseMs = 0): void {
    this.cutSizes.push(this.ws.size);
    for (const s of this.sockets) s.destroy();
    this.refuseUntil = performance.now() + refuseMs;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

let db: TestDatabase;
let dataDir: string | undefined;
let config: Config;
let node: RunningApp | undefined;
let relayA: Relay;
let relayB: Relay;
let urls: string[];
let report: Report;
const logs: string[] = [];
const serverLogs: string[] = [];
const timeline: string[] = [];
let restartMs = 0;
/** WebSockets opened on relay B while relay A refused: devices that went to the next URL. */
let failedOver = 0;

async function startNode(): Promise<{ running: RunningApp; port: number }> {
  const running = await startApp(config, { logStream: { write: (line) => void serverLogs.push(line) } });
  await running.app.listen({ host: '127.0.0.1', port: 0 });
  return { running, port: (running.app.server.address() as net.AddressInfo).port };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  db = await createTestDatabase();
  config = loadConfig({
    ...testServerEnv(),
    LOG_LEVEL: 'warn',
    // Its sockets are sent away over half a second when it shuts down.
    SHUTDOWN_DRAIN_MS: '500',
  });
  if (testDbMode() === 'pglite') {
    // On disk, so the restarted server finds the same data.
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-load-reconnect-'));
    config.database = { kind: 'pglite', dir: dataDir };
  } else config.database = db.target;
  const first = await startNode();
  node = first.running;
  relayA = new Relay(first.port);
  relayB = new Relay(first.port);
  urls = [await relayA.listen(), await relayB.listen()];

  const parsed = parseOptions([
    ...['--url', urls.join(','), '--users', '12', '--devices', '2', '--group-size', '4'],
    ...['--rate', '6', '--duration', '9', '--drain', '60', '--seed', '11', '--quiet'],
    // Safety nets for a slow machine: the restart may take a while, and sends wait for it.
    ...['--send-timeout', '180', '--verify', 'devices'],
  ]);
  if (parsed.help) throw new Error('unexpected --help');

  // The failures, timed from the moment every device is connected (the phase starts then).
  let failures: Promise<void> = Promise.resolve();
  const t0 = performance.now();
  const mark = (what: string) => timeline.push(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const io = {
    log: (line: string) => {
      logs.push(line);
      if (!line.startsWith('connected ')) return;
      failures = (async () => {
        mark('connected');
        relayB.dropAcks = 2;
        await sleep(1_500);
        mark(`${relayB.ackDrops} connections dropped with a send's ack on relay B`);
        const [upgradesOnB, dropsOnB] = [relayB.wsUpgrades, relayB.ackDrops];
        relayA.cut(3_000);
        mark(`relay A cut (${relayA.cutSizes.at(-1)} sockets) and answering 503 for 3 s`);
        await sleep(2_500);
        // Sockets opened on B meanwhile, but for the devices B itself dropped with an ack.
        failedOver = relayB.wsUpgrades - upgradesOnB - (relayB.ackDrops - dropsOnB);
        mark(`${failedOver} sockets opened on relay B meanwhile`);
        relayB.cut();
        mark(`relay B cut (${relayB.cutSizes.at(-1)} sockets)`);
        await sleep(2_000);
        // The node leaves the rotation (new connections get 503 from the "balancer"), then
        // shuts down gracefully: its sockets are sent away with 1001, sends in flight on them
        // are refused as retryable.
        const r0 = performance.now();
        relayA.offline = relayB.offline = true;
        await node!.close();
        mark('server closed');
        const next = await startNode();
        node = next.running;
        relayA.target = next.port;
        relayB.target = next.port;
        relayA.offline = relayB.offline = false;
        restartMs = performance.now() - r0;
        mark(`server started again (${Math.round(restartMs)} ms down)`);
      })();
    },
  };
  report = await runLoadTest(parsed.options, io);
  await failures;
}, 300_000);

afterAll(async () => {
  await relayA?.close();
  await relayB?.close();
  await node?.close().catch(() => undefined);
  await db?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('a load test while connections are cut and the server restarts', () => {
  it('cut connections for real, and the devices came back: failing over, resuming, re-syncing', () => {
    const c = report.connections;
    const why = `timeline: ${timeline.join('; ')}\nreport: ${JSON.stringify(c)}`;
    expect(relayA.cutSizes[0], why).toBeGreaterThan(0);
    expect(relayB.cutSizes[0], why).toBeGreaterThan(0);
    // Every socket cut belonged to a device (a device still authenticating when cut is not a drop).
    expect(c.closedDuringRun, why).toBeGreaterThanOrEqual(Math.max(relayA.cutSizes[0]!, relayB.cutSizes[0]!));
    expect(c.reconnects, why).toBeGreaterThan(0);
    expect(c.reconnectAttempts, why).toBeGreaterThan(c.reconnects);
    // Relay A refused its devices' first tries: they went to the next URL, relay B.
    expect(relayA.refused, why).toBeGreaterThan(0);
    expect(c.reconnectFailures['upgrade refused: HTTP 503'], why).toBeGreaterThan(0);
    expect(failedOver, why).toBeGreaterThan(0);
    expect(c.byUrl[0]!.reconnectAttempts, why).toBeGreaterThan(c.byUrl[0]!.reconnects);
    // After relay B's cut the server still had their inboxes: resumed, with the events missed.
    expect(c.resumes.resumed, why).toBeGreaterThan(0);
    // After the restart the positions were gone: sync:resync, and a re-sync over REST.
    expect(c.resumes.notResumed + c.resumes.failed, why).toBeGreaterThan(0);
    expect(c.resyncs, why).toBeGreaterThan(0);
    expect(c.recovery?.resyncs, why).toBeGreaterThan(0);
    expect(c.connectedAtEnd, why).toBe(c.opened);
    expect(c.opened).toBe(24);
    expect(c.invalidFrames).toBe(0);
  });

  it('sends every message once: what was cut off is sent again with the same clientMsgId', () => {
    const p = report.phases[0]!;
    const c = p.counts;
    const v = report.verification!;
    // The two sends whose acks were dropped went again and were answered with the originals.
    expect(relayB.ackDrops, timeline.join('; ')).toBe(2);
    expect(c.retried, JSON.stringify(c)).toBeGreaterThanOrEqual(2);
    expect(v.retriedSends).toBeGreaterThanOrEqual(c.retried);
    expect(v.duplicateAcks, JSON.stringify(report.connections)).toBeGreaterThanOrEqual(2);
    expect(report.connections.outbox?.heldClosed).toBeGreaterThanOrEqual(2);
    expect(c.scheduled).toBe(54);
    expect(c.sent + c.notSent).toBe(c.scheduled);
    expect(c.notSent).toBe(0);
    expect(c.acked, JSON.stringify(c)).toBe(c.scheduled);
    expect(c.rejected + c.unanswered).toBe(0);
    expect(p.ackLatencyMs.count).toBe(c.acked);
  });

  it('ends with every acked message on every member’s device, nothing stored twice, and passes', () => {
    const v = report.verification!;
    const why = JSON.stringify(v);
    expect(v.mode).toBe('devices');
    expect(v.ackedMessages).toBe(54);
    const d = v.deliveries;
    expect(d.expected).toBeGreaterThanOrEqual(54 * 3);
    expect(d.live + d.resume + d.rest + d.missing).toBe(d.expected);
    expect(d.missing, why).toBe(0);
    expect(v.missingNotOnServer).toBe(0);
    expect(v.notRetrievable, why).toEqual({ messages: 0, pairs: 0 });
    expect(v.duplicates.afterDedupe).toBe(0);
    expect(v.check).toMatchObject({ readers: 24, chatsRead: 48, failedReads: 0 });
    expect(report.checks.filter((ch) => !ch.passed)).toEqual([]);
    expect(report.passed).toBe(true);
  });

  it('reports the failures in the text and HTML summaries', () => {
    const text = renderText(report);
    expect(text).toMatch(/reconnects: \d+ of \d+ attempts after \d+ drops/);
    expect(text).toContain("every acked message on every member's device (final REST check: every device)");
    expect(text).toMatch(/acked messages 54; deliveries expected \d+: .* 0 missing/);
    expect(text).toMatch(/pass {2}acked messages missing on members' devices at the end: 0/);
    expect(text).toMatch(/PASSED/);
    const html = renderHtml(report);
    expect(html).toContain('Every acked message on every member');
    expect(html).not.toMatch(/<script|<link|\ssrc=|\shref=|url\(/i);
  });
});
