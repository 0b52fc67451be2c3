/**
 * The server's side of the analysis processes: MEDIA_ANALYSIS_WORKERS child processes
 * (analysis-worker.ts), each started on its first job (its models load then, once) and
 * reading one picture at a time. A process, not a thread: the whole of it — its model
 * runtimes, its image decoder's threads, its garbage collector's — runs at the lowest CPU
 * priority, so it takes only what the server leaves; and a crash in native model code, or
 * running out of memory, ends that process, never the server. A read that takes longer than
 * MEDIA_ANALYSIS_TIMEOUT_MS, or a process that dies, fails that job only; the next job
 * starts a new process.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AnalyseRequest, AnalyseResponse } from './analysis-worker.js';

export interface Analysis {
  lines: { text: string; score: number }[];
  labels: { label: string; score: number }[];
}

export interface Analyser {
  /** Reads the text and objects of the picture in `file`; rejects with a reason fit to store. */
  analyse(file: string): Promise<Analysis>;
  /** Analysis processes running (their models loaded or loading). */
  readonly processes: number;
  close(): Promise<void>;
}

/** A process's JavaScript heap (the OCR's pre-processing is JavaScript arrays). */
const PROCESS_HEAP_MB = 512;

/**
 * The process's code and how to run it: the built JavaScript next to this module (the
 * server's bundle), else the TypeScript source through tsx's loader (development, tests).
 */
function workerEntry(): { file: string; execArgv: string[] } {
  const heap = `--max-old-space-size=${PROCESS_HEAP_MB}`;
  const js = fileURLToPath(new URL('./analysis-worker.js', import.meta.url));
  if (existsSync(js)) return { file: js, execArgv: [heap] };
  // tsx's ESM loader, registered by --import before the worker's source is read.
  const loader = createRequire(import.meta.url).resolve('tsx/esm');
  return {
    file: fileURLToPath(new URL('./analysis-worker.ts', import.meta.url)),
    execArgv: [heap, '--import', pathToFileURL(loader).href],
  };
}

export function createAnalyser(opts: {
  processes: number;
  timeoutMs: number;
  labelMinScore: number;
}): Analyser {
  interface Slot {
    worker: ChildProcess | null;
    busy: boolean;
  }
  const slots: Slot[] = Array.from({ length: opts.processes }, () => ({ worker: null, busy: false }));
  const waiting: ((slot: Slot) => void)[] = [];
  let nextId = 1;
  let closed = false;

  const acquire = (): Promise<Slot> => {
    const free = slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (slot: Slot) => {
    const next = waiting.shift();
    if (next) next(slot);
    else slot.busy = false;
  };

  function start(slot: Slot): ChildProcess {
    const entry = workerEntry();
    const worker = fork(entry.file, [], {
      execArgv: entry.execArgv,
      // Its own output is not the server's log; what goes wrong comes back as a reason.
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'advanced',
    });
    // Gone between jobs (killed from outside, crashed): the next job starts a new one.
    worker.on('exit', () => {
      if (slot.worker === worker) slot.worker = null;
    });
    worker.on('error', () => undefined); // a job's own listener says what failed
    // Never keeps the server's process alive by itself.
    worker.unref();
    worker.channel?.unref();
    return worker;
  }

  async function run(slot: Slot, file: string): Promise<Analysis> {
    const worker = (slot.worker ??= start(slot));
    const id = nextId++;
    return new Promise<Analysis>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        worker.channel?.unref();
      };
      const kill = (reason: string) => {
        done();
        if (slot.worker === worker) slot.worker = null;
        worker.kill('SIGKILL');
        reject(new Error(reason));
      };
      const onMessage = (response: AnalyseResponse) => {
        if (response.id !== id) return;
        done();
        if (response.ok) resolve({ lines: response.lines, labels: response.labels });
        else reject(new Error(`The picture could not be read: ${response.error}`));
      };
      const onError = (err: Error) => kill(`The analysis failed: ${err.message}`);
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        kill(
          // V8 aborts when the heap is full (SIGABRT; 134 through a shell).
          signal === 'SIGABRT' || code === 134
            ? 'The picture needed more memory than the analysis may use.'
            : 'The analysis stopped before it was done.',
        );
      const timer = setTimeout(
        () => kill(`The analysis took longer than ${opts.timeoutMs} ms.`),
        opts.timeoutMs,
      );
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      // While a job runs the channel is referenced (its answer must arrive).
      worker.channel?.ref();
      const request: AnalyseRequest = { id, file, labelMinScore: opts.labelMinScore };
      worker.send(request);
    });
  }

  /** Ends a process and waits for it to be gone. */
  function stop(worker: ChildProcess): Promise<void> {
    if (worker.exitCode !== null || worker.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      worker.once('exit', () => resolve());
      worker.kill('SIGKILL');
    });
  }

  return {
    async analyse(file) {
      if (closed) throw new Error('The analysis is shutting down.');
      const slot = await acquire();
      try {
        return await run(slot, file);
      } finally {
        release(slot);
      }
    },
    get processes() {
      return slots.filter((s) => s.worker).length;
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => (s.worker ? stop(s.worker) : undefined)));
      for (const s of slots) s.worker = null;
    },
  };
}
