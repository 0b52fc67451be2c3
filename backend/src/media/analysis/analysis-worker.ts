/**
 * The analysis thread (a worker_thread started by analyser.ts): holds the models and reads
 * one picture at a time, so model inference — seconds of CPU in JavaScript, WebAssembly and
 * onnxruntime — never runs on the server's event loop.
 */
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { findLabels, readText } from './models.js';

export interface AnalyseRequest {
  id: number;
  image: Uint8Array;
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

// The lowest CPU priority for this thread only (Linux: a thread's id is a pid to
// setpriority), so on a busy machine the server's event loop gets the cores first and
// message delivery does not wait behind a picture. Elsewhere the thread keeps the default.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, 19);
} catch {
  // not Linux, or not allowed: the default priority
}

// Nothing in here may reach the network: the models are read from disk. A library that
// tried to fetch anything (a model, a .wasm file) fails the job instead of leaking.
globalThis.fetch = () => Promise.reject(new Error('media analysis makes no network requests'));

parentPort!.on('message', (request: AnalyseRequest) => {
  void (async (): Promise<AnalyseResponse> => {
    try {
      const image = Buffer.from(request.image.buffer, request.image.byteOffset, request.image.byteLength);
      const lines = await readText(image);
      const labels = await findLabels(image, request.labelMinScore);
      return { id: request.id, ok: true, lines, labels };
    } catch (err) {
      return { id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  })().then((response) => parentPort!.postMessage(response));
});
