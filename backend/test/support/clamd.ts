/**
 * A real clamd for tests (Debian package clamav-daemon): started in the foreground as a
 * child process on a free loopback TCP port, with its own config, log and database in a
 * temp directory. Official signatures cannot be downloaded here, so the database is one
 * hash signature of its own: the EICAR test file (the 68-byte string every scanner must
 * report), named Eicar-Test-Signature (clamd reports it as "…UNOFFICIAL").
 *
 * clamd runs as the user that starts it (no `User` line: that option is for dropping
 * root), listens on TCP only (no `LocalSocket`), and takes streams up to 60 MiB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const CLAMD_PATH = '/usr/sbin/clamd';

/**
 * The EICAR anti-virus test file, put together at run time so that this source file does
 * not itself look like the test file to a scanner that reads the repository.
 */
export const EICAR = Buffer.from(
  'X5O!P%@AP[4\\PZX54(P^)7CC' + ')7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*',
  'latin1',
);

export interface RunningClamd {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** A port free at the moment of asking (clamd cannot be told to pick one itself). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** PING by hand (not through the scanner under test): true when clamd answers PONG. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('connect', () => socket.write('zPING\0'));
    socket.on('data', (data) => {
      reply += data.toString('latin1');
      if (reply.includes('\0')) done(reply.startsWith('PONG'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}

export async function startClamd(): Promise<RunningClamd> {
  try {
    await access(CLAMD_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `clamd not found at ${CLAMD_PATH}: install the Debian package clamav-daemon ` +
        '(apt-get install clamav-daemon; .ci/run does this).',
    );
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-clamd-'));
  const db = path.join(dir, 'db');
  await mkdir(db);
  const md5 = createHash('md5').update(EICAR).digest('hex');
  await writeFile(path.join(db, 'test.hdb'), `${md5}:${EICAR.length}:Eicar-Test-Signature\n`);

  try {
    return await launch(dir, db);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Starts clamd on a free port and waits for PING; the caller removes `dir` on failure. */
async function launch(dir: string, db: string): Promise<RunningClamd> {
  // Another process may take the free port before clamd binds it: then try a new one.
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const config = path.join(dir, 'clamd.conf');
    await writeFile(
      config,
      [
        'Foreground yes',
        `TCPSocket ${port}`,
        'TCPAddr 127.0.0.1',
        `DatabaseDirectory ${db}`,
        `LogFile ${path.join(dir, 'clamd.log')}`,
        `PidFile ${path.join(dir, 'clamd.pid')}`,
        `TemporaryDirectory ${dir}`,
        'StreamMaxLength 60M',
        '',
      ].join('\n'),
    );
    const child = spawn(CLAMD_PATH, [`--config-file=${config}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (data: Buffer) => {
      stderr = (stderr + data.toString()).slice(-4000);
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    // A test run that ends without stop() must not leave clamd behind.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);

    const deadline = Date.now() + 60_000;
    let ready = false;
    while (!exited && Date.now() < deadline) {
      const failed = await Promise.race([
        spawnError,
        new Promise<null>((r) => setTimeout(() => r(null), 100)),
      ]);
      if (failed) {
        process.off('exit', killOnExit);
        throw failed;
      }
      if (await pingOnce(port)) {
        ready = true;
        break;
      }
    }
    if (ready) {
      return {
        host: '127.0.0.1',
        port,
        async stop() {
          process.off('exit', killOnExit);
          await stopProcess(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    process.off('exit', killOnExit);
    await stopProcess(child);
    const log = await readFile(path.join(dir, 'clamd.log'), 'utf8').catch(() => '');
    lastError = new Error(
      `clamd did not answer PING on port ${port} ${exited ? `(it exited with ${child.exitCode})` : 'within 60 s'}:\n` +
        `${stderr.trim()}\n${log.split('\n').slice(-15).join('\n')}`,
    );
    if (!exited) break; // it ran but never answered: a new port would not help
  }
  throw lastError;
}
