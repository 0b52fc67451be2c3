/**
 * Several --url's, end to end: a real server reached at two addresses (its own and a TCP
 * relay in front of it, standing in for a second node), so the spreading of devices, the
 * per-URL counts and the summed server metrics run the whole way through the CLI's path.
 * Real clusters (several processes on PostgreSQL and Redis) are `npm run bench:cluster`'s.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../backend/test/support/server.js';
import { parseOptions } from '../src/options.js';
import type { Report } from '../src/report.js';
import { renderHtml } from '../src/report-html.js';
import { renderText } from '../src/report-text.js';
import { runLoadTest } from '../src/run.js';

let server: TestServer;
let relay: net.Server;
const relayed = new Set<net.Socket>();
let relayUrl: string;
let report: Report;

/** A TCP relay on a free loopback port to `port`: the same server at a second URL. */
function startRelay(port: number): Promise<net.Server> {
  return new Promise((resolve) => {
    const srv = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1');
      for (const s of [client, upstream]) {
        relayed.add(s);
        s.on('close', () => relayed.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).on('error', () => client.destroy());
      upstream.pipe(client).on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

beforeAll(async () => {
  server = await startTestServer({ LOG_LEVEL: 'warn' });
  relay = await startRelay(Number(new URL(server.url).port));
  relayUrl = `http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
  const parsed = parseOptions([
    ...['--url', `${server.url},${relayUrl}`, '--users', '10', '--devices', '2'],
    ...['--rate', '4', '--duration', '3', '--group-size', '5', '--drain', '60', '--seed', '3'],
    ...['--min-delivery', '100%'],
  ]);
  if (parsed.help) throw new Error('unexpected --help');
  report = await runLoadTest(parsed.options, { log: () => undefined });
}, 240_000);

afterAll(async () => {
  for (const s of relayed) s.destroy();
  await new Promise((resolve) => relay?.close(resolve));
  await server?.close();
});

describe('a load test over two URLs', () => {
  it('names both URLs and puts each user’s two devices on different ones', () => {
    expect(report.target).toMatchObject({ url: server.url, urls: [server.url, relayUrl], loopback: true });
    expect(report.connections.byUrl).toEqual([
      expect.objectContaining({ url: server.url, attempted: 10, opened: 10, failed: 0, closedDuringRun: 0 }),
      expect.objectContaining({ url: relayUrl, attempted: 10, opened: 10, failed: 0, closedDuringRun: 0 }),
    ]);
    const byUrl = report.connections.byUrl;
    expect(byUrl[0]!.messagesReceived + byUrl[1]!.messagesReceived).toBe(
      report.connections.framesByType['message:new'],
    );
    // Every message reaches the sender's other device, which sits behind the other URL.
    expect(byUrl[0]!.messagesReceived).toBeGreaterThan(0);
    expect(byUrl[1]!.messagesReceived).toBeGreaterThan(0);
  });

  it('delivers everything, and reads the metrics of both URLs', () => {
    const c = report.phases[0]!.counts;
    expect(c.received).toBe(c.expected);
    expect(c.duplicates + c.unexpected).toBe(0);
    expect(report.passed).toBe(true);
    // The same server read twice: the sum counts its sockets twice.
    const last = report.server.samples.find((s) => s.nodes?.length === 2 && s.wsConnections === 40);
    expect(last?.nodes?.map((n) => n.wsConnections)).toEqual([20, 20]);
  });

  it('shows the URLs and their connections in the text and HTML reports', () => {
    const text = renderText(report);
    expect(text).toContain(`against 2 servers: ${server.url}, ${relayUrl}`);
    expect(text).toContain(`${relayUrl}: 10/10 opened, 0 failed, 0 dropped`);
    expect(text).toMatch(/server \(GET \/metrics\), all 2 servers added up/);
    const html = renderHtml(report);
    expect(html).toContain(`${relayUrl}: 10/10 opened, 0 failed, 0 dropped`);
    expect(html).not.toMatch(/<script|<link|\ssrc=|\shref=|url\(/i);
  });
});
