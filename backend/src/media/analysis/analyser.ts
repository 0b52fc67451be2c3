/**
 * The main thread's side of the analysis threads: MEDIA_ANALYSIS_WORKERS worker_threads,
 * each started on its first job (its models load then, once) and reading one picture at a
 * time. A read that takes longer than MEDIA_ANALYSIS_TIMEOUT_MS, or a thread that dies (out
 * of memory: its heap is capped), fails that job only; the next job starts a new thread.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AnalyseRequest, AnalyseResponse } from './analysis-worker.js';

export interface Analysis {
  lines: { text: string; score: number }[];
  labels: { label: string; score: number }[];
}

export interface Analyser {
  /** Reads a picture's text and objects; rejects with a reason fit to store. */
  analyse(image: Buffer): Promise<Analysis>;
  /** Threads started (their models loaded or loading). */
  readonly threads: number;
  close(): Promise<void>;
}

/** A thread's JavaScript heap (the OCR's pre-processing is JavaScript arrays). */
const THREAD_HEAP_MB = 512;

/**
 * The thread's code: the built JavaScript next to this module (the server's bundle), else
 * the TypeScript source, loaded through tsx (development and tests).
 */
function workerFile(): URL {
  const js = new URL('./analysis-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  // tsx's ESM entry (require.resolve finds its CommonJS one, which the thread cannot use).
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/index\.cjs$/, 'index.mjs');
  const tsx = pathToFileURL(api).href;
  const source = new URL('./analysis-worker.ts', import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(source)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

export function createAnalyser(opts: {
  threads: number;
  timeoutMs: number;
  labelMinScore: number;
}): Analyser {
  interface Slot {
    worker: Worker | null;
    busy: boolean;
  }
  const slots: Slot[] = Array.from({ length: opts.threads }, () => ({ worker: null, busy: false }));
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

  function start(): Worker {
    const worker = new Worker(workerFile(), {
      resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
      stdout: false,
      stderr: false,
    });
    // Never keeps the process alive by itself.
    worker.unref();
    return worker;
  }

  async function run(slot: Slot, image: Buffer): Promise<Analysis> {
    const worker = (slot.worker ??= start());
    const id = nextId++;
    return new Promise<Analysis>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const kill = (reason: string) => {
        done();
        if (slot.worker === worker) slot.worker = null;
        void worker.terminate();
        reject(new Error(reason));
      };
      const onMessage = (response: AnalyseResponse) => {
        if (response.id !== id) return;
        done();
        if (response.ok) resolve({ lines: response.lines, labels: response.labels });
        else reject(new Error(`The picture could not be read: ${response.error}`));
      };
      const onError = (err: Error) =>
        kill(
          (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? 'The picture needed more memory than the analysis may use.'
            : `The analysis failed: ${err.message}`,
        );
      const onExit = () => kill('The analysis stopped before it was done.');
      const timer = setTimeout(
        () => kill(`The analysis took longer than ${opts.timeoutMs} ms.`),
        opts.timeoutMs,
      );
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      // A copy the thread owns (the caller's buffer may be a slice of a pooled one).
      const copy = new Uint8Array(image);
      const request: AnalyseRequest = { id, image: copy, labelMinScore: opts.labelMinScore };
      worker.postMessage(request, [copy.buffer]);
    });
  }

  return {
    async analyse(image) {
      if (closed) throw new Error('The analysis is shutting down.');
      const slot = await acquire();
      try {
        return await run(slot, image);
      } finally {
        release(slot);
      }
    },
    get threads() {
      return slots.filter((s) => s.worker).length;
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => s.worker?.terminate()));
      for (const s of slots) s.worker = null;
    },
  };
}
