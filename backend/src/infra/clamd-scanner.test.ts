/**
 * The clamd scanner against a real clamd (test/support/clamd.ts: its database is the EICAR
 * signature only): EICAR is found whole, in tiny pieces and from a file; clean bytes pass,
 * also many chunks' worth; clamd's own limit is an ERROR. Then what a real clamd cannot be
 * made to do, against small servers on loopback: one that never answers (the timeout), one
 * that hangs up, one that answers ERROR, one that checks the INSTREAM framing and one that
 * stops reading (backpressure); and inputs that fail. Every path must close the socket.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { EICAR, startClamd, type RunningClamd } from '../../test/support/clamd.js';
import { waitUntil } from '../../test/support/wait.js';
import { createClamdScanner } from './clamd-scanner.js';
import { ScannerUnavailableError, type VirusScanner } from './virus-scanner.js';

/** A loopback server whose connections the test handles; it counts open connections. */
interface TestServer {
  port: number;
  open(): number;
  connections(): number;
  stop(): Promise<void>;
}

async function startServer(onConnection: (socket: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => sockets.size,
    connections: () => connections,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = await startServer(() => {});
  await server.stop();
  return server.port;
}

/** `total` bytes in pieces of `piece` bytes, made as they are read; counts what was read. */
function generated(total: number, piece: number, fill = 0x61): { stream: Readable; pulled(): number } {
  let pulled = 0;
  const stream = new Readable({
    read() {
      if (pulled >= total) return void this.push(null);
      const size = Math.min(piece, total - pulled);
      pulled += size;
      this.push(Buffer.alloc(size, fill));
    },
  });
  return { stream, pulled: () => pulled };
}

describe('clamd scanner against a real clamd', () => {
  let clamd: RunningClamd;
  let scanner: VirusScanner;
  let scratch: string;

  beforeAll(async () => {
    clamd = await startClamd();
    scanner = createClamdScanner({ host: clamd.host, port: clamd.port, timeoutMs: 60_000 });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'parley-scan-'));
  }, 120_000);

  afterAll(async () => {
    await clamd?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }, 60_000);

  it('is enabled and answers PING', async () => {
    expect(scanner.enabled).toBe(true);
    expect(await scanner.ping()).toBe(true);
  });

  it('finds the EICAR test file', async () => {
    const result = await scanner.scan(Readable.from([EICAR]));
    expect(result).toEqual({ clean: false, signature: expect.stringContaining('Eicar') });
  });

  it('finds EICAR sent one byte per chunk', async () => {
    const result = await scanner.scan(Readable.from([...EICAR].map((byte) => Buffer.from([byte]))));
    expect(result).toEqual({ clean: false, signature: expect.stringContaining('Eicar') });
  });

  it('finds EICAR in a file read as a stream', async () => {
    const file = path.join(scratch, 'eicar.com');
    await writeFile(file, EICAR);
    const result = await scanner.scan(createReadStream(file));
    expect(result).toEqual({ clean: false, signature: expect.stringContaining('Eicar') });
  });

  it('passes a clean 1 MB buffer', async () => {
    expect(await scanner.scan(Readable.from([randomBytes(1024 * 1024)]))).toEqual({ clean: true });
  });

  it('passes a clean stream of many chunks (5 MB in pieces larger than one chunk)', async () => {
    const input = generated(5 * 1024 * 1024, 200 * 1024);
    expect(await scanner.scan(input.stream)).toEqual({ clean: true });
    expect(input.pulled()).toBe(5 * 1024 * 1024);
  });

  it('EICAR with one byte more is another file (the database is a whole-file hash)', async () => {
    // Proves the clean answers above come from scanning, not from a scanner that finds nothing.
    const result = await scanner.scan(Readable.from([Buffer.concat([EICAR, Buffer.from('\n')])]));
    expect(result).toEqual({ clean: true });
  });

  it("a stream over clamd's StreamMaxLength (60 MiB) is an ERROR: ScannerUnavailableError", async () => {
    const input = generated(61 * 1024 * 1024, 1024 * 1024);
    // clamd answers "INSTREAM size limit exceeded. ERROR" and hangs up; a write racing the
    // hang-up may see EPIPE/ECONNRESET first. Either way the scan cannot vouch for the bytes.
    await expect(scanner.scan(input.stream)).rejects.toThrow(ScannerUnavailableError);
    expect(input.stream.destroyed).toBe(true);
    expect(await scanner.ping()).toBe(true);
  });
});

describe('clamd scanner when clamd misbehaves', () => {
  it('an unreachable port fails at once with ScannerUnavailableError, not after the timeout', async () => {
    const scanner = createClamdScanner({ host: '127.0.0.1', port: await closedPort(), timeoutMs: 60_000 });
    const input = Readable.from([Buffer.from('hello')]);
    const started = Date.now();
    await expect(scanner.scan(input)).rejects.toThrow(ScannerUnavailableError);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(input.destroyed).toBe(true);
    expect(await scanner.ping()).toBe(false);
  });

  it('a server that never answers: ScannerUnavailableError after timeoutMs, connection closed', async () => {
    const server = await startServer((socket) => socket.resume()); // reads all, says nothing
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port: server.port, timeoutMs: 300 });
      const started = Date.now();
      const error = await scanner.scan(Readable.from([Buffer.from('hello')])).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ScannerUnavailableError);
      expect((error as Error).message).toMatch(/no answer within 300 ms/);
      // Timers never fire early by more than their millisecond rounding.
      expect(Date.now() - started).toBeGreaterThanOrEqual(295);
      expect(await scanner.ping()).toBe(false);
      await waitUntil('the scanner to close its connections', () => server.open() === 0);
      expect(server.connections()).toBe(2);
    } finally {
      await server.stop();
    }
  });

  it('a server that hangs up without an answer: ScannerUnavailableError', async () => {
    const server = await startServer((socket) => socket.end());
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port: server.port, timeoutMs: 60_000 });
      await expect(scanner.scan(Readable.from([Buffer.from('hello')]))).rejects.toThrow(
        ScannerUnavailableError,
      );
    } finally {
      await server.stop();
    }
  });

  it('an ERROR answer is a ScannerUnavailableError carrying the reason', async () => {
    const server = await startServer((socket) => {
      socket.resume();
      socket.end("stream: Can't allocate memory ERROR\0");
    });
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port: server.port, timeoutMs: 60_000 });
      await expect(scanner.scan(Readable.from([Buffer.from('hello')]))).rejects.toThrow(
        /Can't allocate memory ERROR/,
      );
    } finally {
      await server.stop();
    }
  });

  it('sends INSTREAM framing: chunks of at most 64 KiB that add up to the input, then a zero length', async () => {
    let received = Buffer.alloc(0);
    const server = await startServer((socket) => {
      socket.on('data', (data: Buffer) => {
        received = Buffer.concat([received, data]);
        if (received.subarray(-4).equals(Buffer.alloc(4))) socket.end('stream: OK\0');
      });
    });
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port: server.port, timeoutMs: 60_000 });
      const input = randomBytes(300_000);
      // Pieces smaller than a chunk and larger than three.
      const pieces = [input.subarray(0, 10), input.subarray(10, 200_010), input.subarray(200_010)];
      expect(await scanner.scan(Readable.from(pieces))).toEqual({ clean: true });

      const command = 'zINSTREAM\0';
      expect(received.subarray(0, command.length).toString()).toBe(command);
      const chunks: Buffer[] = [];
      let at = command.length;
      for (;;) {
        const length = received.readUInt32BE(at);
        at += 4;
        if (length === 0) break;
        expect(length).toBeLessThanOrEqual(64 * 1024);
        chunks.push(received.subarray(at, at + length));
        at += length;
      }
      expect(at).toBe(received.length);
      expect(Buffer.concat(chunks).equals(input)).toBe(true);
      expect(chunks.length).toBeGreaterThan(input.length / (64 * 1024));
    } finally {
      await server.stop();
    }
  });

  it('respects backpressure: a server that stops reading stops the input being read', async () => {
    const stalled: net.Socket[] = [];
    const server = await startServer((socket) => {
      socket.pause(); // reads nothing
      stalled.push(socket);
    });
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port: server.port, timeoutMs: 3000 });
      const input = generated(64 * 1024 * 1024, 64 * 1024);
      await expect(scanner.scan(input.stream)).rejects.toThrow(ScannerUnavailableError);
      // Only what fits in the socket buffers (a few MB on loopback) was read, not all 64 MB.
      expect(input.pulled()).toBeLessThan(24 * 1024 * 1024);
      expect(input.stream.destroyed).toBe(true);
      // The scanner's end of the connection is closed: reading what it had sent, the server
      // comes to the end of the stream.
      for (const socket of stalled) socket.resume();
      await waitUntil('the scanner to close its connection', () => server.open() === 0);
    } finally {
      await server.stop();
    }
  });

  it('an input that fails part-way fails the scan with its own error and closes the connection', async () => {
    const server = await startServer((socket) => socket.resume());
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port: server.port, timeoutMs: 60_000 });
      const failure = new Error('upload broke off');
      const input = Readable.from(
        (async function* () {
          yield Buffer.alloc(100_000, 1);
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw failure;
        })(),
      );
      await expect(scanner.scan(input)).rejects.toBe(failure);
      await waitUntil('the scanner to close its connection', () => server.open() === 0);
      expect(server.connections()).toBe(1);
    } finally {
      await server.stop();
    }
  });

  it('an input that fails before the connection is made fails the scan, not the process', async () => {
    const server = await startServer((socket) => socket.resume());
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port: server.port, timeoutMs: 60_000 });
      const input = createReadStream(path.join(os.tmpdir(), `parley-no-such-file-${Date.now()}`));
      await expect(scanner.scan(input)).rejects.toMatchObject({ code: 'ENOENT' });
      await waitUntil('the scanner to close its connection', () => server.open() === 0);
    } finally {
      await server.stop();
    }
  });
});
