/**
 * Virus scanning of uploads against a real clamd (Debian clamav-daemon, started by the test
 * with its own config and a one-line signature database for EICAR): infected files are
 * refused and nothing is kept; clamd away refuses uploads with a retryable error, or takes
 * them unscanned when configured so.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { registerUsers } from '../../test/support/factories.js';
import { client, refusal } from '../../test/support/http.js';
import { EICAR, startClamd, type RunningClamd } from '../../test/support/clamd.js';
import { pngImage, settled, upload, uploaded } from '../../test/support/media.js';
import { startTestServer, type TestServer } from '../../test/support/server.js';

let clamd: RunningClamd;
let server: TestServer;

beforeAll(async () => {
  clamd = await startClamd();
  server = await startTestServer({ CLAMAV_HOST: clamd.host, CLAMAV_PORT: String(clamd.port) });
}, 180_000);
afterAll(async () => {
  await server?.close();
  await clamd?.stop();
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('with clamd', () => {
  it('refuses EICAR with MALWARE_DETECTED and keeps nothing of it', async () => {
    const api = client(server.url);
    const [ana] = await registerUsers(api, 1);
    const before = await server.running.ctx.db.prisma.media.count();
    const res = await upload(server.url, ana!, EICAR, { name: 'invoice.txt', type: 'text/plain' });
    expect(refusal(res)).toEqual({ status: 422, code: 'MALWARE_DETECTED' });
    expect(await server.running.ctx.db.prisma.media.count()).toBe(before);
    expect(server.logs.some((l) => l.includes('malware found') && l.includes('Eicar'))).toBe(true);
  });

  it('lets clean files through', async () => {
    const api = client(server.url);
    const [ana] = await registerUsers(api, 1);
    const media = await uploaded(server.url, ana!, await pngImage());
    expect((await settled(api, ana!, media.id)).status).toBe('ready');
  });
});

describe('without clamd', () => {
  it('refuses uploads with a retryable SCANNER_UNAVAILABLE (fail closed)', async () => {
    const down = await startTestServer({ CLAMAV_HOST: '127.0.0.1', CLAMAV_PORT: String(await closedPort()) });
    try {
      const api = client(down.url);
      const [ana] = await registerUsers(api, 1);
      const res = await upload(down.url, ana!, await pngImage());
      expect(refusal(res)).toEqual({ status: 503, code: 'SCANNER_UNAVAILABLE' });
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await down.running.ctx.db.prisma.media.count()).toBe(0);
    } finally {
      await down.close();
    }
  });

  it('takes them unscanned with CLAMAV_UNREACHABLE=accept, and says so in the log', async () => {
    const open = await startTestServer({
      CLAMAV_HOST: '127.0.0.1',
      CLAMAV_PORT: String(await closedPort()),
      CLAMAV_UNREACHABLE: 'accept',
    });
    try {
      const api = client(open.url);
      const [ana] = await registerUsers(api, 1);
      expect((await upload(open.url, ana!, await pngImage())).status).toBe(201);
      expect(open.logs.some((l) => l.includes('upload accepted unscanned'))).toBe(true);
    } finally {
      await open.close();
    }
  });
});
