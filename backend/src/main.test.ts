/**
 * The real entry point as an operator runs it: a child process started like `npm start`.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../test/support/database.js';

const backendDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Starts the server the way `npm start` does: one node process with tsx as a loader. (The
 * tsx command would put a second process in front, which relays a signal and SIGKILLs the
 * server unless it confirms within 30 ms — on a busy machine it often cannot.)
 */
function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: backendDir,
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe('main', () => {
  it('refuses to start on a bad variable and names it', async () => {
    const { exited, output } = startMain({ PORT: 'not-a-port' });
    expect(await exited).toBe(1);
    expect(output()).toMatch(/PORT /);
  });

  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    const db = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-main-'));
    // Port 0: the server picks a free port and prints it (a port picked here and handed over
    // could be taken by another test's server in between).
    const env: Record<string, string> = { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir };
    if (db.target.kind === 'postgres') env.DATABASE_URL = db.target.url;
    const proc = startMain(env);
    try {
      // Start-up (migrations) takes a while on a busy machine: a generous safety net, inside
      // the test's own timeout so that `finally` still stops the child.
      const giveUpAt = Date.now() + 180_000;
      let port = 0;
      while (!port && proc.child.exitCode === null && Date.now() < giveUpAt) {
        port = Number(/running at http:\/\/localhost:(\d+)/.exec(proc.output())?.[1] ?? 0);
        if (!port) await new Promise((r) => setTimeout(r, 100));
      }
      if (!port) console.log(proc.output());
      expect(port).toBeGreaterThan(0);
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/health`)).ok).toBe(true);
      // Send the headers and half the body, so the server is mid-request when SIGTERM lands.
      // `Expect: 100-continue` makes the server say when it has the headers: from then on the
      // request is in flight, however busy the machine.
      const body = JSON.stringify({
        username: `term_${port}`,
        email: `term${port}@example.test`,
        password: 'longenough',
        displayName: 'T',
      });
      const req = request(`${base}/api/auth/register`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      });
      const headersReceived = new Promise<void>((resolve) => req.on('continue', () => resolve()));
      const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
      });
      req.flushHeaders();
      await headersReceived;
      req.write(body.slice(0, 20));
      proc.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      req.end(body.slice(20));
      const res = await response.catch((err) => {
        console.log(proc.output());
        throw err;
      });
      expect(res.status).toBe(201);
      expect(JSON.parse(res.text).user.username).toBe(`term_${port}`);
      const code = await proc.exited;
      if (code !== 0) console.log(proc.output());
      expect(code).toBe(0);
      await expect(fetch(`${base}/health`)).rejects.toThrow();
    } finally {
      proc.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  }, 240_000);
});
