/**
 * The virus scanner on clamd (CLAMAV_HOST/CLAMAV_PORT), spoken to over TCP with its
 * INSTREAM command, so the bytes go to clamd without a shared disk:
 *
 *   → "zINSTREAM\0", then chunks each led by its length (4 bytes, big-endian), then a
 *     zero length;
 *   ← "stream: OK\0", "stream: <signature> FOUND\0" or "<reason> ERROR\0".
 *
 * A scan that cannot finish (clamd unreachable, silent past the timeout, closing early or
 * answering ERROR, e.g. over its StreamMaxLength) is a ScannerUnavailableError: the caller
 * decides between refusing the upload and accepting it unscanned (CLAMAV_UNREACHABLE).
 * The socket is closed on every path.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { types } from 'node:util';
import type { ClamavSettings } from './config.js';
import { ScannerUnavailableError, type ScanResult, type VirusScanner } from './virus-scanner.js';

/** Each chunk must stay under clamd's StreamMaxLength; small ones keep memory flat on both sides. */
const MAX_CHUNK = 64 * 1024;

export type ClamdSettings = Pick<ClamavSettings, 'host' | 'port' | 'timeoutMs'>;

export function createClamdScanner(settings: ClamdSettings): VirusScanner {
  const { host, port, timeoutMs } = settings;
  const where = `clamd at ${host}:${port}`;

  /**
   * Runs one command on a fresh connection: `send` writes the request (it may take its
   * time, e.g. streaming an upload), and the first NUL-terminated reply is the answer.
   * The whole exchange, connecting included, must end within timeoutMs.
   */
  function exchange(send: (socket: net.Socket, aborted: AbortSignal) => Promise<void>): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host, port });
      const abort = new AbortController();
      const received: Buffer[] = [];
      let settled = false;

      const finish = (error: Error | null, reply?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        abort.abort();
        socket.destroy();
        if (error) reject(error);
        else resolve(reply!);
      };
      const unavailable = (message: string, cause?: unknown) =>
        finish(
          new ScannerUnavailableError(`${where}: ${message}`, cause === undefined ? undefined : { cause }),
        );
      /** The reply so far, if clamd has said anything (it may close right after an ERROR). */
      const replySoFar = () =>
        Buffer.concat(received)
          .toString('utf8')
          .replace(/\0[\s\S]*$/, '')
          .trim();

      const timer = setTimeout(() => unavailable(`no answer within ${timeoutMs} ms`), timeoutMs);

      socket.on('data', (data: Buffer) => {
        received.push(data);
        if (data.includes(0)) finish(null, replySoFar());
      });
      socket.on('error', (err) => {
        // Writing after clamd has answered and hung up fails with EPIPE/ECONNRESET; its
        // answer, when it got through, says more than the socket error.
        const reply = replySoFar();
        if (reply) finish(null, reply);
        else unavailable(err.message, err);
      });
      socket.on('close', () => {
        const reply = replySoFar();
        if (reply) finish(null, reply);
        else unavailable('connection closed without an answer');
      });
      socket.once('connect', () => {
        send(socket, abort.signal).catch((err: unknown) => {
          // Aborted because the exchange already ended: nothing more to say.
          if (abort.signal.aborted) return;
          // isNativeError, not instanceof: errors from another realm (a vm, jest) count too.
          finish(types.isNativeError(err) ? err : new Error(String(err)));
        });
      });
    });
  }

  /** Writes and waits for room when the socket's buffer is full (backpressure). */
  async function write(socket: net.Socket, data: Buffer, aborted: AbortSignal): Promise<void> {
    if (!socket.write(data)) await once(socket, 'drain', { signal: aborted });
  }

  return {
    enabled: true,

    async scan(content: Readable): Promise<ScanResult> {
      // Listening at once: an input that fails before clamd answers the connection (a
      // file that cannot be opened) must fail the scan, not the process.
      let inputError: Error | undefined;
      const onInputError = (err: Error) => {
        inputError = err;
      };
      content.on('error', onInputError);
      try {
        const reply = await exchange(async (socket, aborted) => {
          if (inputError) throw inputError;
          await write(socket, Buffer.from('zINSTREAM\0'), aborted);
          for await (const chunk of content) {
            const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
            for (let at = 0; at < bytes.length; at += MAX_CHUNK) {
              // clamd answered early (an ERROR) or time ran out: stop reading the input.
              if (aborted.aborted) return;
              const piece = bytes.subarray(at, at + MAX_CHUNK);
              const length = Buffer.alloc(4);
              length.writeUInt32BE(piece.length);
              socket.write(length);
              await write(socket, piece, aborted);
            }
          }
          await write(socket, Buffer.alloc(4), aborted); // zero length: end of stream
        });
        return parseReply(reply, where);
      } catch (err) {
        // Whatever went wrong, the rest of the input is of no use: release it (its file).
        content.destroy();
        throw err;
      } finally {
        content.off('error', onInputError);
      }
    },

    async ping(): Promise<boolean> {
      try {
        const reply = await exchange((socket, aborted) => write(socket, Buffer.from('zPING\0'), aborted));
        return reply === 'PONG';
      } catch {
        return false;
      }
    },
  };
}

function parseReply(reply: string, where: string): ScanResult {
  if (reply === 'stream: OK') return { clean: true };
  const found = /^stream: (.+) FOUND$/.exec(reply);
  if (found) return { clean: false, signature: found[1]! };
  // "INSTREAM size limit exceeded. ERROR", "stream: … ERROR" or something unexpected.
  throw new ScannerUnavailableError(`${where} could not scan: ${reply}`);
}
