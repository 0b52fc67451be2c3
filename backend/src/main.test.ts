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
const tsx = path.resolve(backendDir, '../node_modules/.bin/tsx');

function startMain(env: Record<string, string>) {
  const child = spawn(tsx, ['src/main.ts'], {
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
      let port = 0;
      for (let i = 0; i < 600 && !port; i += 1) {
        port = Number(/running at http:\/\/localhost:(\d+)/.exec(proc.output())?.[1] ?? 0);
        if (!port) await new Promise((r) => setTimeout(r, 100));
      }
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
      const res = await response;
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
  });
});
