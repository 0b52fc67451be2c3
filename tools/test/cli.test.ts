/** The executable as an operator runs it: the bin script, its help and its refusals. */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/parley-load.mjs', import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('parley-load executable', () => {
  it('prints its help and exits 0', () => {
    const res = run('--help');
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/^parley-load: /);
    expect(res.stdout).toContain('--max-p99-ms');
  });

  it('refuses a remote target without --allow-remote, before touching the network', () => {
    const res = run('--url', 'http://192.0.2.10:3000');
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/only loopback targets/);
  });

  it('refuses bad options with exit code 2', () => {
    const res = run('--users', 'many');
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/--users must be a number/);
  });

  it('refuses a bad URL among several with exit code 2', () => {
    const res = run('--url', 'http://127.0.0.1:3001', '--url', 'ftp://127.0.0.1:3002');
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/--url must be http:\/\/ or https:\/\/.*"ftp:\/\/127\.0\.0\.1:3002"/);
  });

  it('exits 2 with a clear message when nothing listens at the URL', async () => {
    // A port that was free a moment ago: nothing answers there.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const res = run('--url', `http://127.0.0.1:${port}`, '--users', '2', '--duration', '1', '--quiet');
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/api\/auth\/register: ECONNREFUSED/);
  });
});
