/**
 * The server's side of the analysis processes: MEDIA_ANALYSIS_WORKERS child processes
 * (analysis-worker.ts), each started on its first job (its models load then, once) and
 * reading one picture at a time. A process, not a thread: the whole of it — its model
 * runtimes, its image decoder's threads, its garbage collector's — runs at the lowest CPU
 * priority, so it takes only what the server leaves; and a crash in native model code, or
 * running out of memory, ends that process, never the server. A read that takes longer than
 * MEDIA_ANALYSIS_TIMEOUT_MS of running time, or a process that dies, fails that job only;
 * the next job starts a new process.
 *
 * The lowest priority is not enough by itself: the models stream their tensors through the
 * memory and cache the cores share, and sends slowed down beside them (specs/benchmarks.md).
 * So while a message is being sent on this node (the foreground, infra/foreground.ts), a
 * process reading a picture is stopped (SIGSTOP) and goes on (SIGCONT) when the sends are
 * done. It keeps at least a quarter of the time, however busy the node: stopped at most
 * PAUSE_PER_RUN ms for each ms it ran, PAUSE_MAX_MS at once. This is done only where the
 * process dies with the server whatever kills it (Linux's parent-death signal, set by
 * util-linux's setpriv): a stopped process left behind by a server killed with -9 would
 * hold its memory for good.
 */
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Foreground } from '../../infra/foreground.js';
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
/** A process reading a picture may be stopped this many ms for each ms it ran (it keeps ≥ 1/4). */
export const PAUSE_PER_RUN = 3;
/** The longest a process is stopped at once, and the most stopping it can save up. */
export const PAUSE_MAX_MS = 1_000;
/** Let go because its allowance was spent, it runs at least this long before it is stopped again. */
const RUN_AT_LEAST_MS = 100;

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

let deathSignal: boolean | undefined;
/**
 * Whether processes can be started bound to the server's life: on Linux, through setpriv
 * (util-linux, in every Debian and its container images), whose --pdeathsig has the kernel
 * kill the process when the server ends. Asked once, on the first process's start.
 */
function canBindToServer(): boolean {
  deathSignal ??=
    process.platform === 'linux' &&
    spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 10_000 })
      .status === 0;
  return deathSignal;
}

/** A job's time limit, counting only the time its process runs. */
function runningTimer(ms: number, fire: () => void) {
  let left = ms;
  let since = performance.now();
  let handle: NodeJS.Timeout | undefined = setTimeout(fire, ms);
  return {
    pause() {
      if (!handle) return;
      clearTimeout(handle);
      handle = undefined;
      left -= performance.now() - since;
    },
    resume() {
      if (handle || left === Number.POSITIVE_INFINITY) return;
      since = performance.now();
      handle = setTimeout(fire, Math.max(0, left));
    },
    clear() {
      clearTimeout(handle);
      handle = undefined;
      left = Number.POSITIVE_INFINITY; // never again
    },
  };
}

export function createAnalyser(opts: {
  processes: number;
  timeoutMs: number;
  labelMinScore: number;
  /** The processes' CPU priority (nice, 0–19). */
  nice: number;
  /** Sends under way on this node: a reading process steps aside meanwhile. None: it never does. */
  foreground?: Foreground;
  /** Told how long a process was stopped (seconds), as it goes. */
  onPaused?: (seconds: number) => void;
}): Analyser {
  interface Slot {
    worker: ChildProcess | null;
    busy: boolean;
    /** Whether this slot's process dies with the server (and so may be stopped). */
    bound: boolean;
    /** The time limit of the job the process is reading, while there is one. */
    job: ReturnType<typeof runningTimer> | null;
    /** When the process was stopped, while it is. */
    stoppedAt: number | null;
    /** How long it may still be stopped (ms), as of `countedAt`. */
    allowance: number;
    countedAt: number;
    settleTimer: NodeJS.Timeout | undefined;
  }
  const slots: Slot[] = Array.from({ length: opts.processes }, () => ({
    worker: null,
    busy: false,
    bound: false,
    job: null,
    stoppedAt: null,
    allowance: 0,
    countedAt: 0,
    settleTimer: undefined,
  }));
  const waiting: ((slot: Slot) => void)[] = [];
  let nextId = 1;
  let closed = false;
  const foreground = opts.foreground;
  foreground?.onChange(() => {
    for (const slot of slots) settle(slot);
  });

  /**
   * Stops the slot's process, or lets it go on, as the foreground and its allowance say; when
   * that is bound to change with time alone, looks again then.
   */
  function settle(slot: Slot): void {
    clearTimeout(slot.settleTimer);
    slot.settleTimer = undefined;
    const worker = slot.worker;
    if (!worker || !slot.bound) return;
    const now = performance.now();
    if (slot.stoppedAt === null) {
      slot.allowance = Math.min(PAUSE_MAX_MS, slot.allowance + (now - slot.countedAt) * PAUSE_PER_RUN);
    } else {
      slot.allowance -= now - slot.stoppedAt;
      opts.onPaused?.((now - slot.stoppedAt) / 1000);
      slot.stoppedAt = now;
    }
    slot.countedAt = now;
    const reading = slot.job !== null;
    const stop = reading && foreground?.busy === true && slot.allowance > 0;
    if (stop && slot.stoppedAt === null) {
      if (!signal(worker, 'SIGSTOP')) return;
      slot.stoppedAt = now;
      slot.job?.pause();
    } else if (!stop && slot.stoppedAt !== null) {
      signal(worker, 'SIGCONT');
      slot.stoppedAt = null;
      slot.job?.resume();
    }
    if (!reading || foreground?.busy !== true) return;
    // Busy still: let go when the allowance is spent, or stop again once it has run a while.
    const later = slot.stoppedAt === null ? RUN_AT_LEAST_MS : slot.allowance;
    slot.settleTimer = setTimeout(() => settle(slot), later);
    slot.settleTimer.unref();
  }

  function signal(worker: ChildProcess, name: 'SIGSTOP' | 'SIGCONT'): boolean {
    try {
      return worker.kill(name);
    } catch {
      return false; // gone
    }
  }

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
    const args = [...entry.execArgv, entry.file, String(opts.nice)];
    const options: SpawnOptions = {
      // Its own output is not the server's log; what goes wrong comes back as a reason.
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'advanced',
    };
    const bound = canBindToServer();
    // setpriv sets the parent-death signal and becomes the process (exec: the same pid).
    const worker: ChildProcess = bound
      ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...args], options)
      : spawn(process.execPath, args, options);
    Object.assign(slot, { bound, stoppedAt: null, allowance: 0, countedAt: performance.now() });
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
        job.clear();
        slot.job = null;
        settle(slot); // not left stopped between jobs
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
      const job = runningTimer(opts.timeoutMs, () =>
        kill(`The analysis took longer than ${opts.timeoutMs} ms.`),
      );
      slot.job = job;
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      // While a job runs the channel is referenced (its answer must arrive).
      worker.channel?.ref();
      const request: AnalyseRequest = { id, file, labelMinScore: opts.labelMinScore };
      worker.send(request);
      settle(slot); // sends under way already: it waits for them
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
      for (const s of slots) clearTimeout(s.settleTimer);
      await Promise.all(slots.map((s) => (s.worker ? stop(s.worker) : undefined)));
      for (const s of slots) s.worker = null;
    },
  };
}
