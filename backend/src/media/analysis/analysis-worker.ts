/**
 * The analysis process (a child process started by analyser.ts): holds the models and reads
 * one picture at a time, so model inference — seconds of CPU in JavaScript, WebAssembly and
 * onnxruntime — never runs in the server's process.
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { findLabels, readText } from './models.js';

export interface AnalyseRequest {
  id: number;
  /** The picture, read here (its bytes never pass through the server's event loop). */
  file: string;
  labelMinScore: number;
}
export type AnalyseResponse =
  | {
      id: number;
      ok: true;
      lines: { text: string; score: number }[];
      labels: { label: string; score: number }[];
    }
  | { id: number; ok: false; error: string };

/** The priority the server asked for (MEDIA_ANALYSIS_NICE): 19, the lowest, by default. */
const nice = Number(process.argv[2] ?? 19);

// That priority for the whole process: at the lowest, on a busy machine the server gets the
// cores first and message delivery does not wait behind a picture. On Linux a priority is
// each thread's: the threads already running (the garbage collector's, libuv's) are set
// one by one, and those started later (the image decoder's, the model runtimes') inherit it
// from this one. Elsewhere the process's priority is set.
function lowerPriority(): void {
  try {
    for (const tid of readdirSync('/proc/self/task')) os.setPriority(Number(tid), nice);
  } catch {
    try {
      os.setPriority(process.pid, nice);
    } catch {
      // not allowed: the default priority
    }
  }
}
lowerPriority();

// Nothing in here may reach the network: the models are read from disk. A library that
// tried to fetch anything (a model, a .wasm file) fails the job instead of leaking.
globalThis.fetch = () => Promise.reject(new Error('media analysis makes no network requests'));

// The server went away (or closed the analysis): nothing more to do.
process.on('disconnect', () => process.exit(0));

process.on('message', (request: AnalyseRequest) => {
  void (async (): Promise<AnalyseResponse> => {
    try {
      const image = await readFile(request.file);
      const lines = await readText(image);
      const labels = await findLabels(image, request.labelMinScore);
      return { id: request.id, ok: true, lines, labels };
    } catch (err) {
      return { id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    } finally {
      lowerPriority(); // threads the models started meanwhile, whoever started them
    }
  })().then((response) => process.send!(response));
});
