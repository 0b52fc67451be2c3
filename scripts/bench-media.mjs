#!/usr/bin/env node
/**
 * `npm run bench:media`: uploads and picture processing (specs/uploads.md), against a
 * real server this script starts (embedded PGlite, or PostgreSQL with DATABASE_URL: a
 * fresh database `parley_bench_media_<random>`, dropped afterwards), on loopback.
 *
 * Pictures are made here (scripts/lib/photos.mjs): camera-like JPEGs at quality 90 with a
 * phone's EXIF (GPS, camera model; the big ones with orientation 6, so the server has to
 * turn them). Uploads go through POST /api/media (multipart, standard quality) as the web
 * app sends them; "ready" is the moment the uploader's WebSocket receives `media:updated`
 * with status `ready` for that upload (GET /api/media/:id is polled only if the event is late).
 *
 * Scenarios, on a fresh server per MEDIA_WORKERS value and one for `flat` (NODE_ENV=production):
 *   peak        10 pictures of just under 10 MiB (6000×4000) uploaded at once by 10 users;
 *               the server process's VmRSS sampled every 50 ms (and its VmHWM, reset before)
 *               from idle until all are ready: idle, peak, peak − idle (goal: under 400 MB).
 *               Once per MEDIA_WORKERS value (--workers, default 1 and 4).
 *   ready       (after peak, MEDIA_WORKERS=1) 12-megapixel photos (4000×3000, 3–4 MB), one
 *               after another: the POST's latency, and upload-to-ready (from the start of
 *               the POST to the event), p50/p95.
 *   throughput  (after ready; also with each other --workers value) 10 senders at once,
 *               each uploading 20 pictures of 1600×1200 one after another without waiting
 *               for them to be processed: uploads accepted per second and ready per second.
 *   flat        a server of its own: 200 uploads of 1600×1200 in rounds of 50, each round
 *               processed to ready; after each round (and before) a full GC through the
 *               server's inspector (--inspect=127.0.0.1:0, this server only), then RSS and
 *               the JS heap: the slope (goal: RSS under 0.1 MB per upload).
 *
 * The server runs with MEDIA_IMAGE_MAX_BYTES 12 MiB (headroom above the 10 MiB pictures),
 * a 50 GiB quota, the per-user limits raised out of the way, HTTP_REQUEST_TIMEOUT_MS 120 s
 * (ten 10 MB bodies at once on a busy machine), LOG_LEVEL warn; everything else default.
 *
 * The results replace the `media-<mode>` section of specs/benchmarks.md; the JSON summary
 * goes to artifacts/bench/media-<mode>.json and stdout. Options:
 *   --workers <a,b>   MEDIA_WORKERS values for peak and throughput (default 1,4; the first
 *                     one also runs ready)
 *   --only <a,b>      some scenarios only: peak, ready, throughput, flat
 *   --quick           small counts (checks the script); writes artifacts/bench/ only (so does --only)
 *   --render <file>   no run: the section again from a saved report (artifacts/bench/media-<mode>.json)
 * Exit code: 0 goals met, 1 a goal missed (the numbers are still written), 2 could not
 * run. Every wait has a deadline and every loop a bound; servers, databases and data
 * directories are removed at the end, on an error and on Ctrl+C.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { fetchJson, summary } from './lib/measure.mjs';
import { photo } from './lib/photos.mjs';
import {
  machineBusy,
  machineCpuSeconds,
  parseMetrics,
  postgresCpuSeconds,
  processCpuSeconds,
  serverPid,
} from './lib/probe.mjs';
import { closingLines, commitLabel, machineFacts, runBenchmark, writeSection } from './lib/report.mjs';
import { createCleanups, freePort, freshDatabase, root, startServer } from './lib/run-server.mjs';

const SCENARIOS = ['peak', 'ready', 'throughput', 'flat'];
let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean' },
      workers: { type: 'string' },
      only: { type: 'string' },
      render: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  console.error(
    `bench:media: ${err.message}; options: --workers <a,b>, --only <scenarios>, --quick, --render <report.json>`,
  );
  process.exit(2);
}
const quick = args.quick === true;
const mode = process.env.DATABASE_URL ? 'postgres' : 'pglite';
const workersList = (args.workers ?? '1,4').split(',').map((s) => Number(s.trim()));
if (!workersList.length || workersList.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) {
  console.error('bench:media: --workers takes MEDIA_WORKERS values 1–16, e.g. 1,4');
  process.exit(2);
}
const only = args.only ? args.only.split(',').map((s) => s.trim()) : SCENARIOS;
if (!only.length || only.some((s) => !SCENARIOS.includes(s))) {
  console.error(`bench:media: --only takes ${SCENARIOS.join(', ')}`);
  process.exit(2);
}
const run = (s) => only.includes(s);

const MiB = 1024 * 1024;
/** The server's default picture limit; the big pictures are just under it. */
const DEFAULT_IMAGE_LIMIT = 10 * MiB;
const SHAPE = quick
  ? { peakFiles: 3, readyUploads: 3, senders: 3, perSender: 3, flatRounds: 2, flatPerRound: 5 }
  : { peakFiles: 10, readyUploads: 20, senders: 10, perSender: 20, flatRounds: 4, flatPerRound: 50 };
const PHOTOS = {
  big: {
    width: 6000,
    height: 4000,
    orientation: 6,
    minBytes: 9.6 * MiB,
    maxBytes: DEFAULT_IMAGE_LIMIT - 4096,
  },
  twelve: { width: 4000, height: 3000, orientation: 6, grain: 6 },
  mid: { width: 1600, height: 1200, orientation: 1, grain: 6 },
};
/** Distinct pictures of each size (uploads cycle over them; the server does not deduplicate). */
const DISTINCT = quick ? { big: 2, twelve: 2, mid: 4 } : { big: 10, twelve: 4, mid: 20 };
const GOAL_PEAK_MB = 400;
/** "Flat": RSS grows by less than this per upload over the rounds after the first. */
const GOAL_FLAT_MB_PER_UPLOAD = 0.1;
const SAMPLE_MS = 50;
const READY_TIMEOUT_MS = 300_000;
/** Other processes above this (100 = one core) during a scenario: its numbers are marked disturbed. */
const DISTURBED_PERCENT = 50;

/** Set in this environment, the server inherits them, and they change its memory: the report names them. */
const MEMORY_ENV = [
  'MALLOC_ARENA_MAX',
  'MALLOC_TRIM_THRESHOLD_',
  'LD_PRELOAD',
  'UV_THREADPOOL_SIZE',
  'NODE_OPTIONS',
];
const inherited = Object.fromEntries(
  MEMORY_ENV.filter((k) => process.env[k]).map((k) => [k, process.env[k]]),
);

const SERVER_ENV = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  MEDIA_IMAGE_MAX_BYTES: String(12 * MiB),
  MEDIA_QUOTA_BYTES: String(50 * 1024 * MiB),
  HTTP_REQUEST_TIMEOUT_MS: '120000',
  USER_COMMAND_RATE_PER_SECOND: '100000',
  USER_COMMAND_BURST: '1000000',
  USER_COMMAND_TOTAL_RATE_PER_SECOND: '100000',
  USER_COMMAND_TOTAL_BURST: '1000000',
  USER_READ_RATE_PER_SECOND: '100000',
  USER_READ_BURST: '1000000',
};

const outDir = path.join(root, 'artifacts', 'bench');
const docPath = path.join(root, 'specs', 'benchmarks.md');
const { cleanup, closing, scope } = createCleanups();
const started = Date.now();
const say = (line) => console.log(`[bench:media ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const mb = (bytes) => bytes / 1e6;
const f0 = (n) => (n === undefined || n === null || Number.isNaN(n) ? '—' : n.toFixed(0));
const f1 = (n) => (n === undefined || n === null || Number.isNaN(n) ? '—' : n.toFixed(1));
const f2 = (n) => (n === undefined || n === null || Number.isNaN(n) ? '—' : n.toFixed(2));
const sec = (ms) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);
const msOrS = (ms) => (ms === undefined ? '—' : ms >= 1000 ? sec(ms) : `${ms.toFixed(0)} ms`);

// ---------------------------------------------------------------------------------------
// The server process: memory and CPU from /proc.

/** VmRSS and VmHWM of `pid`, bytes. */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Resets the process's VmHWM to its current RSS (Linux clear_refs 5); false where not allowed. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every SAMPLE_MS until stopped; the samples are { t, rss }. */
function rssSampler(pid) {
  const samples = [];
  const take = () => {
    try {
      samples.push({ t: performance.now(), rss: memoryOf(pid).rss });
    } catch {
      // the process is gone
    }
  };
  take();
  const timer = setInterval(take, SAMPLE_MS);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** CPU seconds of the server, PostgreSQL, this process and the machine: who used the cores. */
function cpuNow(pid) {
  let server = 0;
  try {
    server = processCpuSeconds(pid);
  } catch {
    // gone
  }
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    server,
    postgres: mode === 'postgres' ? (postgresCpuSeconds() ?? 0) : 0,
    self: (self.user + self.system) / 1e6,
    machine: machineCpuSeconds(),
    load: loadavg(),
  };
}
function cpuBetween(a, b) {
  const s = (b.at - a.at) / 1000;
  const server = b.server - a.server;
  const postgres = b.postgres - a.postgres;
  const self = b.self - a.self;
  const pct = (x) => (x / s) * 100;
  return {
    seconds: s,
    serverCpuSeconds: server,
    serverPercent: pct(server),
    postgresPercent: pct(postgres),
    benchPercent: pct(self),
    otherPercent: pct(Math.max(0, b.machine - a.machine - server - postgres - self)),
    loadBefore: a.load,
    loadAfter: b.load,
  };
}

/** JS heap in use and memory outside it (Buffers, …), from the server's GET /metrics. */
async function heapOf(base) {
  try {
    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const m = parseMetrics(await res.text());
    return {
      heapUsed: m.get('parley_nodejs_heap_size_used_bytes'),
      external: m.get('parley_nodejs_external_memory_bytes'),
    };
  } catch {
    return {};
  }
}

/**
 * The server process's V8 inspector (started with --inspect=127.0.0.1:0; its address is in
 * the server's output, next to the tsx launcher's): `call(method, params)` over the
 * DevTools protocol. Undefined when there is none.
 */
async function inspectorOf(output, pid, cleanups) {
  const urls = [...new Set(output.join('\n').match(/ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+/g) ?? [])];
  for (const url of urls) {
    let ws;
    try {
      ws = await new Promise((resolve, reject) => {
        const socket = new WebSocket(url);
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      });
    } catch {
      continue;
    }
    let next = 0;
    const pending = new Map();
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString());
      const waiter = pending.get(msg.id);
      if (!waiter) return;
      pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(`${msg.error.message}`));
      else waiter.resolve(msg.result);
    });
    const call = (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++next;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`inspector: ${method} not answered in 60 s`));
        }, 60_000);
        pending.set(id, {
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        ws.send(JSON.stringify({ id, method, params }));
      });
    const answer = await call('Runtime.evaluate', { expression: 'process.pid', returnByValue: true }).catch(
      () => null,
    );
    if (answer?.result?.value === pid) {
      cleanups.push(() => ws.close());
      return { call };
    }
    ws.close();
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Talking to the server: users, their sockets, uploads and their `media:updated` events.

/** Every `media:updated` with a final status seen on any socket: id → { status, at }. */
const finalSeen = new Map();
/** id → resolve, for uploads whose final event is awaited. */
const finalWaiters = new Map();

function onFrame(raw) {
  let frame;
  try {
    frame = JSON.parse(raw.toString());
  } catch {
    return;
  }
  if (frame.type !== 'media:updated') return;
  const a = frame.data?.attachment;
  if (!a || a.status === 'pending') return;
  const seen = { status: a.status, at: performance.now(), via: 'event', failureReason: a.failureReason };
  if (!finalSeen.has(a.id)) finalSeen.set(a.id, seen);
  finalWaiters.get(a.id)?.(finalSeen.get(a.id));
}

/** An authenticated socket that feeds onFrame. */
function connect(base, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('socket did not authenticate in 60 s'));
    }, 60_000);
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', id: 'auth', data: { token } })));
    ws.on('message', (raw) => {
      const text = raw.toString();
      if (text.includes('"ack"')) {
        const frame = JSON.parse(text);
        if (frame.type === 'ack' && frame.id === 'auth') {
          clearTimeout(timer);
          if (frame.ok) resolve(ws);
          else reject(new Error(`auth refused: ${frame.error?.code}`));
          return;
        }
      }
      onFrame(text);
    });
  });
}

async function registerUsers(base, count, cleanups) {
  const users = [];
  for (let i = 0; i < count; i++) {
    const username = `bm_${i}_${randomBytes(3).toString('hex')}`;
    const reply = await fetchJson(base, 'POST', '/api/auth/register', {
      body: {
        username,
        email: `${username}@bench.invalid`,
        password: 'bench-media-password',
        displayName: `Bench media ${i}`,
        refreshTokenDelivery: 'body',
      },
      expect: 201,
    });
    const ws = await connect(base, reply.accessToken);
    cleanups.push(() => ws.terminate());
    users.push({ id: reply.user.id, token: reply.accessToken, ws });
  }
  return users;
}

/**
 * POST /api/media with one picture; resolves when the server answered 201, with the
 * upload's id and the times (performance.now()) the POST started and was answered.
 */
async function postUpload(base, user, bytes, name) {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type: 'image/jpeg' }), name);
  const t0 = performance.now();
  const res = await fetch(`${base}/api/media`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}` },
    body: form,
    signal: AbortSignal.timeout(180_000),
  });
  const text = await res.text();
  const t1 = performance.now();
  if (res.status !== 201) throw new Error(`POST /api/media: ${res.status} ${text.slice(0, 300)}`);
  const media = JSON.parse(text);
  return { id: media.id, status: media.status, postStart: t0, accepted: t1 };
}

/**
 * The moment upload `id` reached a final status: its `media:updated` event, or — when no
 * event came within 10 s of the last sign of life — GET /api/media/:id polled every 500 ms.
 */
async function finalOf(base, user, id) {
  if (finalSeen.has(id)) return finalSeen.get(id);
  const deadline = performance.now() + READY_TIMEOUT_MS;
  const fromEvent = new Promise((resolve) => finalWaiters.set(id, resolve));
  try {
    while (performance.now() < deadline && !closing()) {
      const seen = await Promise.race([fromEvent, sleep(10_000).then(() => null)]);
      if (seen) return seen;
      const media = await fetchJson(base, 'GET', `/api/media/${id}`, { token: user.token });
      if (media.status !== 'pending') {
        // The event may have been on its way meanwhile: prefer it.
        const late = finalSeen.get(id);
        return late ?? { status: media.status, at: performance.now(), via: 'poll' };
      }
    }
    throw new Error(`upload ${id} not processed within ${READY_TIMEOUT_MS / 1000} s`);
  } finally {
    finalWaiters.delete(id);
  }
}

/** Upload then wait for ready: the POST's latency and upload-to-ready, ms. */
async function uploadToReady(base, user, bytes, name) {
  const up = await postUpload(base, user, bytes, name);
  const fin = await finalOf(base, user, up.id);
  if (fin.status !== 'ready') throw new Error(`upload ${up.id} ${fin.status}: ${fin.failureReason ?? ''}`);
  return { ...up, ready: fin.at, via: fin.via };
}

// ---------------------------------------------------------------------------------------
// One server for one scenario group.

async function withServer(workers, label, fn, extraEnv = {}) {
  const part = scope();
  try {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-media-'));
    part.list.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const databaseUrl = await freshDatabase('parley_bench_media', part.list);
    const port = await freePort();
    const server = await startServer({
      port,
      dataDir,
      databaseUrl,
      cleanups: part.list,
      env: {
        ...SERVER_ENV,
        JWT_SECRET: randomBytes(32).toString('hex'),
        MEDIA_WORKERS: String(workers),
        ...extraEnv,
      },
    });
    const pid = await serverPid(server.pid);
    say(`${label}: server up at ${server.base} (pid ${pid}, MEDIA_WORKERS=${workers}, ${mode})`);
    const users = await registerUsers(server.base, SHAPE.senders, part.list);
    // Warm-up: the first picture loads libvips' codecs and JIT-compiles the path.
    for (let i = 0; i < 2; i++) {
      await uploadToReady(server.base, users[0], photos.mid[i % photos.mid.length], `warmup-${i}.jpg`);
    }
    return await fn({ base: server.base, pid, users, output: server.output, cleanups: part.list });
  } finally {
    await part.close();
  }
}

/** Idle RSS: the median of 1 s of samples, after `quietMs` with nothing going on. */
async function idleRss(pid, quietMs = 3_000) {
  await sleep(quietMs);
  const sampler = rssSampler(pid);
  await sleep(1_000);
  const list = sampler
    .stop()
    .map((s) => s.rss)
    .sort((a, b) => a - b);
  return list[Math.floor(list.length / 2)];
}

async function scenarioPeak({ base, pid, users }, workers) {
  const idle = await idleRss(pid);
  const heapIdle = await heapOf(base);
  const hwmReset = resetPeak(pid);
  const cpu0 = cpuNow(pid);
  const sampler = rssSampler(pid);
  const n = SHAPE.peakFiles;
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      uploadToReady(base, users[i % users.length], photos.big[i % photos.big.length], `big-${i}.jpg`),
    ),
  );
  const tEnd = performance.now();
  await sleep(1_000);
  const samples = sampler.stop();
  const cpu = cpuBetween(cpu0, cpuNow(pid));
  const { hwm } = memoryOf(pid);
  const peakSampled = Math.max(...samples.map((s) => s.rss));
  const peakSample = samples.find((s) => s.rss === peakSampled);
  const peak = hwmReset ? Math.max(hwm, peakSampled) : peakSampled;
  const after = await idleRss(pid, 10_000);
  const heapAfter = await heapOf(base);
  const lastAccepted = Math.max(...results.map((r) => r.accepted));
  const out = {
    workers,
    files: n,
    bytes: photos.big.map((b) => b.length),
    idleRss: idle,
    peakRss: peak,
    peakSampledRss: peakSampled,
    peakHwm: hwmReset ? hwm : null,
    peakAtMs: peakSample.t - t0,
    aboveIdle: peak - idle,
    afterRss: after,
    heapIdle,
    heapAfter,
    allAcceptedMs: lastAccepted - t0,
    allReadyMs: tEnd - t0,
    post: summary(results.map((r) => r.accepted - r.postStart)),
    ready: summary(results.map((r) => r.ready - r.postStart)),
    samples: samples.length,
    series: samples.map((s) => [Math.round(s.t - t0), Math.round(s.rss / 1024)]),
    cpu,
    cpuPerUploadSeconds: cpu.serverCpuSeconds / n,
  };
  say(
    `peak (MEDIA_WORKERS=${workers}): idle ${f0(mb(idle))} MB, peak ${f0(mb(peak))} MB (+${f0(mb(peak - idle))} MB), ` +
      `all ${n} ready in ${sec(out.allReadyMs)}; after ${f0(mb(after))} MB; load ${cpu.loadAfter}`,
  );
  return out;
}

async function scenarioReady({ base, pid, users }) {
  const cpu0 = cpuNow(pid);
  const results = [];
  for (let i = 0; i < SHAPE.readyUploads && !closing(); i++) {
    const r = await uploadToReady(
      base,
      users[0],
      photos.twelve[i % photos.twelve.length],
      `IMG_${1000 + i}.jpg`,
    );
    results.push(r);
  }
  const cpu = cpuBetween(cpu0, cpuNow(pid));
  const out = {
    uploads: results.length,
    bytes: photos.twelve.map((b) => b.length),
    post: summary(results.map((r) => r.accepted - r.postStart)),
    ready: summary(results.map((r) => r.ready - r.postStart)),
    processing: summary(results.map((r) => r.ready - r.accepted)),
    viaPoll: results.filter((r) => r.via === 'poll').length,
    cpu,
    cpuPerUploadSeconds: cpu.serverCpuSeconds / results.length,
  };
  say(
    `ready: POST p50 ${msOrS(out.post.p50)} p95 ${msOrS(out.post.p95)}; upload-to-ready p50 ${msOrS(out.ready.p50)} ` +
      `p95 ${msOrS(out.ready.p95)} (${out.uploads} uploads; server CPU ${f2(out.cpuPerUploadSeconds)} s each; ` +
      `others ${f0(cpu.otherPercent)} % of a core)`,
  );
  return out;
}

async function scenarioThroughput({ base, pid, users }, workers) {
  const cpu0 = cpuNow(pid);
  const t0 = performance.now();
  const perSender = await Promise.all(
    users.slice(0, SHAPE.senders).map(async (user, s) => {
      const ups = [];
      for (let i = 0; i < SHAPE.perSender && !closing(); i++) {
        ups.push(await postUpload(base, user, photos.mid[(s + i) % photos.mid.length], `pic-${s}-${i}.jpg`));
      }
      const done = [];
      for (const up of ups) {
        const fin = await finalOf(base, user, up.id);
        if (fin.status !== 'ready')
          throw new Error(`upload ${up.id} ${fin.status}: ${fin.failureReason ?? ''}`);
        done.push({ ...up, ready: fin.at, via: fin.via });
      }
      return done;
    }),
  );
  const results = perSender.flat();
  const cpu = cpuBetween(cpu0, cpuNow(pid));
  const lastAccepted = Math.max(...results.map((r) => r.accepted));
  const lastReady = Math.max(...results.map((r) => r.ready));
  const n = results.length;
  const out = {
    workers,
    senders: SHAPE.senders,
    perSender: SHAPE.perSender,
    uploads: n,
    bytes: photos.mid.reduce((a, b) => a + b.length, 0) / photos.mid.length,
    acceptedSeconds: (lastAccepted - t0) / 1000,
    readySeconds: (lastReady - t0) / 1000,
    acceptedPerSecond: n / ((lastAccepted - t0) / 1000),
    readyPerSecond: n / ((lastReady - t0) / 1000),
    post: summary(results.map((r) => r.accepted - r.postStart)),
    ready: summary(results.map((r) => r.ready - r.postStart)),
    viaPoll: results.filter((r) => r.via === 'poll').length,
    cpu,
    cpuPerUploadSeconds: cpu.serverCpuSeconds / n,
  };
  say(
    `throughput (MEDIA_WORKERS=${workers}): ${n} uploads accepted in ${f1(out.acceptedSeconds)} s ` +
      `(${f1(out.acceptedPerSecond)}/s), all ready in ${f1(out.readySeconds)} s (${f1(out.readyPerSecond)}/s); ` +
      `POST p50 ${msOrS(out.post.p50)} p95 ${msOrS(out.post.p95)}; others ${f0(cpu.otherPercent)} % of a core`,
  );
  return out;
}

async function scenarioFlat({ base, pid, users, output, cleanups }) {
  const inspector = await inspectorOf(output, pid, cleanups);
  if (!inspector) say('flat: no inspector on the server: the heap is read without a full GC first');
  const points = [];
  const point = async (uploads) => {
    // A full GC first (twice: weak references and finalizers), so what stays is what is kept.
    let gcHeap;
    if (inspector) {
      await inspector.call('HeapProfiler.collectGarbage');
      await inspector.call('HeapProfiler.collectGarbage');
      gcHeap = (await inspector.call('Runtime.getHeapUsage')).usedSize;
    }
    const rss = await idleRss(pid, 2_000);
    const heap = await heapOf(base);
    points.push({
      uploads,
      rss,
      heapUsed: gcHeap ?? heap.heapUsed,
      heapAfterGc: gcHeap !== undefined,
      external: heap.external,
      load: loadavg(),
    });
    say(
      `flat: after ${uploads} uploads RSS ${f1(mb(rss))} MB, JS heap ${f1(mb(gcHeap ?? heap.heapUsed ?? NaN))} MB`,
    );
  };
  await point(0);
  const cpu0 = cpuNow(pid);
  let n = 0;
  for (let round = 0; round < SHAPE.flatRounds && !closing(); round++) {
    for (let i = 0; i < SHAPE.flatPerRound && !closing(); i++, n++) {
      await postUpload(base, users[0], photos.mid[n % photos.mid.length], `flat-${n}.jpg`).then((up) =>
        finalOf(base, users[0], up.id).then((fin) => {
          if (fin.status !== 'ready') throw new Error(`upload ${up.id} ${fin.status}`);
        }),
      );
    }
    await point(n);
  }
  const cpu = cpuBetween(cpu0, cpuNow(pid));
  // Least squares over the rounds after the first (the first round is the allocator settling).
  const fit = points.filter((p) => p.uploads >= SHAPE.flatPerRound);
  const slope = (key) => {
    const xs = fit.map((p) => p.uploads);
    const ys = fit.map((p) => mb(p[key] ?? NaN));
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    const num = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0);
    const den = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    return den ? num / den : NaN;
  };
  return {
    uploads: n,
    rounds: SHAPE.flatRounds,
    points,
    rssSlopeMbPerUpload: slope('rss'),
    heapSlopeMbPerUpload: slope('heapUsed'),
    cpu,
  };
}

// ---------------------------------------------------------------------------------------

const photos = { big: [], twelve: [], mid: [] };

async function makePhotos() {
  const t = performance.now();
  for (const kind of ['mid', 'twelve', 'big']) {
    if (kind === 'big' && !run('peak')) continue;
    if (kind === 'twelve' && !run('ready')) continue;
    for (let i = 0; i < DISTINCT[kind]; i++) photos[kind].push(await photo({ ...PHOTOS[kind], seed: i + 1 }));
  }
  const sizes = (list) =>
    list.length
      ? `${f2(mb(Math.min(...list.map((b) => b.length))))}–${f2(mb(Math.max(...list.map((b) => b.length))))} MB`
      : '—';
  say(
    `pictures ready in ${f0((performance.now() - t) / 1000)} s: 6000×4000 ${sizes(photos.big)}, ` +
      `4000×3000 ${sizes(photos.twelve)}, 1600×1200 ${sizes(photos.mid)}`,
  );
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  await makePhotos();
  const before = { busyPercent: await machineBusy(2_000), load: loadavg() };
  say(`machine: ${f0(before.busyPercent)} % busy (100 = one core), load ${before.load}`);
  const report = {
    startedAt: new Date(started).toISOString(),
    mode,
    quick,
    shape: SHAPE,
    photos: PHOTOS,
    serverEnv: SERVER_ENV,
    inheritedEnv: inherited,
    machine: {
      ...machineFacts(),
      before,
    },
    peak: [],
    ready: null,
    throughput: [],
    flat: null,
  };
  for (const [i, workers] of workersList.entries()) {
    const first = i === 0;
    if (!run('peak') && !run('throughput') && !(first && run('ready'))) continue;
    if (closing()) break;
    await withServer(workers, `MEDIA_WORKERS=${workers}`, async (server) => {
      if (run('peak')) report.peak.push(await scenarioPeak(server, workers));
      if (first && run('ready')) report.ready = await scenarioReady(server);
      if (run('throughput')) report.throughput.push(await scenarioThroughput(server, workers));
    });
  }
  if (run('flat') && !closing()) {
    // With the inspector on loopback (a port of its own), so the heap can be read after a full GC.
    const workers = workersList[0];
    report.flat = await withServer(
      workers,
      'flat',
      async (server) => ({ ...(await scenarioFlat(server)), workers }),
      {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim(),
      },
    );
  }
  report.machine.after = loadavg();
  report.finishedAt = new Date().toISOString();

  // Only a full run replaces the section; a quick or partial one goes to artifacts/ only.
  const partial = quick || only.length < SCENARIOS.length;
  const name = quick ? `media-${mode}-quick` : partial ? `media-${mode}-partial` : `media-${mode}`;
  const { text, table, allMet } = renderSection(report);
  writeFileSync(
    path.join(outDir, `${name}.json`),
    JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2),
  );
  if (partial) {
    writeFileSync(path.join(outDir, `${name}.md`), `${text}\n`);
    say(`${quick ? 'quick' : 'partial'} run: artifacts/bench/${name}.md (specs/benchmarks.md left alone)`);
  } else {
    writeSection(docPath, `media-${mode}`, text, undefined, {
      appendUnder: `### Results: media, ${mode === 'postgres' ? 'PostgreSQL mode' : 'embedded mode (PGlite)'}`,
    });
    say(`specs/benchmarks.md: media-${mode} section written`);
  }
  // The JSON summary (without the RSS series) and the table.
  const brief = JSON.parse(JSON.stringify(report));
  for (const p of brief.peak) delete p.series;
  console.log(`\n${JSON.stringify(brief, null, 2)}\n`);
  console.log(`${table}\n`);
  return allMet ? 0 : 1;
}

function renderSection(r) {
  const m = r.machine;
  const lines = [];
  lines.push(
    `Run on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC · commit ${commitLabel()} · ${m.cpus} × ${m.cpuModel}, ` +
      `${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB RAM · ${m.platform} · Node ${m.node}`,
  );
  lines.push('');
  lines.push(
    `Server: ${r.mode === 'postgres' ? 'PostgreSQL on the same machine (a fresh database per server)' : 'embedded PGlite (a temporary DATA_DIR per server)'}, ` +
      `files on local disk, \`NODE_ENV=production\`, default settings except MEDIA_WORKERS (per column), ` +
      `\`MEDIA_IMAGE_MAX_BYTES\` 12 MiB, a 50 GiB quota, the per-user limits raised and a 120 s request timeout` +
      (Object.keys(r.inheritedEnv).length
        ? ` (and from the environment: ${Object.entries(r.inheritedEnv)
            .map(([k, v]) => `\`${k}=${v}\``)
            .join(', ')})`
        : '') +
      `; ` +
      `the bench (uploader) on the same machine. Before the run the machine was ${f0(m.before.busyPercent)} % busy ` +
      `(100 = one core), load average ${m.before.load}; after it ${m.after}.`,
  );
  lines.push('');
  const verdicts = [];
  const disturbed = [];
  const note = (label, cpu) => {
    if (cpu && cpu.otherPercent > DISTURBED_PERCENT) disturbed.push(`${label} (${f0(cpu.otherPercent)} %)`);
  };
  const cpuCell = (cpu) =>
    cpu
      ? `${f0(cpu.serverPercent)} / ${r.mode === 'postgres' ? `${f0(cpu.postgresPercent)} / ` : ''}${f0(cpu.benchPercent)} / ${f0(cpu.otherPercent)} %`
      : '—';
  const cpuLabel =
    r.mode === 'postgres'
      ? 'CPU: server / PostgreSQL / bench / other processes (100 % = one core)'
      : 'CPU: server / bench / other processes (100 % = one core)';
  const table = [];

  if (r.peak.length) {
    const big = r.peak[0].bytes;
    table.push(
      `**Peak memory**: ${r.peak[0].files} pictures of 6000×4000 (24 MP, EXIF orientation 6, ` +
        `${f2(Math.min(...big) / MiB)}–${f2(Math.max(...big) / MiB)} MiB each, just under the default 10 MiB limit) ` +
        `uploaded at once by ${r.peak[0].files} users; the server process's VmRSS every ${SAMPLE_MS} ms and its VmHWM ` +
        `(reset before) from idle until every one was ready.`,
      '',
      `| MEDIA_WORKERS | ${r.peak.map((p) => `${p.workers}${p.workers === 1 ? ' (default)' : ''}`).join(' | ')} |`,
      `|---|${r.peak.map(() => '---').join('|')}|`,
      `| idle RSS (after two warm-up uploads) | ${r.peak.map((p) => `${f0(mb(p.idleRss))} MB`).join(' | ')} |`,
      `| peak RSS | ${r.peak.map((p) => `${f0(mb(p.peakRss))} MB`).join(' | ')} |`,
      `| **peak − idle** (goal < ${GOAL_PEAK_MB} MB) | ${r.peak
        .map((p) => `**${f0(mb(p.aboveIdle))} MB** ${mb(p.aboveIdle) < GOAL_PEAK_MB ? '✅' : '❌'}`)
        .join(' | ')} |`,
      `| peak reached after | ${r.peak.map((p) => sec(p.peakAtMs)).join(' | ')} |`,
      `| RSS 10 s after the last was ready | ${r.peak.map((p) => `${f0(mb(p.afterRss))} MB`).join(' | ')} |`,
      `| all accepted (201) / all ready after | ${r.peak.map((p) => `${sec(p.allAcceptedMs)} / ${sec(p.allReadyMs)}`).join(' | ')} |`,
      `| upload-to-ready p50 / max | ${r.peak.map((p) => `${sec(p.ready.p50)} / ${sec(p.ready.max)}`).join(' | ')} |`,
      `| server CPU per picture | ${r.peak.map((p) => `${f2(p.cpuPerUploadSeconds)} s`).join(' | ')} |`,
      `| ${cpuLabel} | ${r.peak.map((p) => cpuCell(p.cpu)).join(' | ')} |`,
      `| load average before → after | ${r.peak.map((p) => `${p.cpu.loadBefore.split(' ')[0]} → ${p.cpu.loadAfter.split(' ')[0]}`).join(' | ')} |`,
      '',
    );
    for (const p of r.peak) {
      verdicts.push({
        label: `peak − idle < ${GOAL_PEAK_MB} MB with MEDIA_WORKERS=${p.workers} (${f0(mb(p.aboveIdle))} MB)`,
        ok: mb(p.aboveIdle) < GOAL_PEAK_MB,
      });
      note(`peak, MEDIA_WORKERS=${p.workers}`, p.cpu);
    }
  }

  if (r.ready) {
    const q = r.ready;
    table.push(
      `**A 12-megapixel photo, upload to ready**: ${q.uploads} photos of 4000×3000 (EXIF orientation 6 and GPS, ` +
        `${f1(mb(Math.min(...q.bytes)))}–${f1(mb(Math.max(...q.bytes)))} MB) uploaded one after another by one user ` +
        `(MEDIA_WORKERS=1, standard quality: thumbnail, preview, original ≤ 2560 px, placeholder); ready = the ` +
        `uploader's socket got \`media:updated\` with status ready${q.viaPoll ? ` (${q.viaPoll} by polling)` : ''}.`,
      '',
      '| | p50 | p95 | max |',
      '|---|---|---|---|',
      `| POST /api/media (201, \`pending\`) | ${msOrS(q.post.p50)} | ${msOrS(q.post.p95)} | ${msOrS(q.post.max)} |`,
      `| **upload to ready** (from the start of the POST) | **${msOrS(q.ready.p50)}** | **${msOrS(q.ready.p95)}** | ${msOrS(q.ready.max)} |`,
      `| of which processing (201 to ready) | ${msOrS(q.processing.p50)} | ${msOrS(q.processing.p95)} | ${msOrS(q.processing.max)} |`,
      '',
      `Server CPU per photo ${f2(q.cpuPerUploadSeconds)} s; ${cpuLabel}: ${cpuCell(q.cpu)}; load average ` +
        `${q.cpu.loadBefore.split(' ')[0]} → ${q.cpu.loadAfter.split(' ')[0]}.`,
      '',
    );
    note('ready', q.cpu);
  }

  if (r.throughput.length) {
    const t0 = r.throughput[0];
    table.push(
      `**Ten senders at once**: ${t0.senders} users, each uploading ${t0.perSender} pictures of 1600×1200 ` +
        `(about ${f2(mb(t0.bytes))} MB) one after another without waiting for processing: uploads accepted ` +
        `(201) per second and processed (ready) per second, from the first POST.`,
      '',
      `| MEDIA_WORKERS | ${r.throughput.map((t) => `${t.workers}${t.workers === 1 ? ' (default)' : ''}`).join(' | ')} |`,
      `|---|${r.throughput.map(() => '---').join('|')}|`,
      `| uploads | ${r.throughput.map((t) => t.uploads).join(' | ')} |`,
      `| **accepted per second** (all ${t0.uploads} in) | ${r.throughput.map((t) => `**${f1(t.acceptedPerSecond)}/s** (${f1(t.acceptedSeconds)} s)`).join(' | ')} |`,
      `| **ready per second** (all ${t0.uploads} ready) | ${r.throughput.map((t) => `**${f1(t.readyPerSecond)}/s** (${f1(t.readySeconds)} s)`).join(' | ')} |`,
      `| POST p50 / p95 | ${r.throughput.map((t) => `${msOrS(t.post.p50)} / ${msOrS(t.post.p95)}`).join(' | ')} |`,
      `| upload to ready p50 / p95 / max | ${r.throughput.map((t) => `${msOrS(t.ready.p50)} / ${msOrS(t.ready.p95)} / ${msOrS(t.ready.max)}`).join(' | ')} |`,
      `| server CPU per picture | ${r.throughput.map((t) => `${f2(t.cpuPerUploadSeconds)} s`).join(' | ')} |`,
      `| ${cpuLabel} | ${r.throughput.map((t) => cpuCell(t.cpu)).join(' | ')} |`,
      `| load average before → after | ${r.throughput.map((t) => `${t.cpu.loadBefore.split(' ')[0]} → ${t.cpu.loadAfter.split(' ')[0]}`).join(' | ')} |`,
      '',
    );
    for (const t of r.throughput) note(`throughput, MEDIA_WORKERS=${t.workers}`, t.cpu);
  }

  if (r.flat) {
    const fl = r.flat;
    const flatOk = fl.rssSlopeMbPerUpload < GOAL_FLAT_MB_PER_UPLOAD;
    table.push(
      `**Memory over ${fl.uploads} uploads** (a server of its own, MEDIA_WORKERS=${fl.workers ?? 1}): pictures of ` +
        `1600×1200 uploaded one after another by one user, each processed to ready; after every ` +
        `${fl.uploads / fl.rounds}: ${fl.points.every((p) => p.heapAfterGc) ? 'a full garbage collection (through the server’s inspector, on loopback), ' : ''}` +
        `2 s of quiet, then the median VmRSS over 1 s, the JS heap in use and the memory outside it (GET /metrics).`,
      '',
      `| uploads | ${fl.points.map((p) => p.uploads).join(' | ')} |`,
      `|---|${fl.points.map(() => '---').join('|')}|`,
      `| RSS | ${fl.points.map((p) => `${f0(mb(p.rss))} MB`).join(' | ')} |`,
      `| JS heap in use | ${fl.points.map((p) => `${f0(mb(p.heapUsed ?? NaN))} MB`).join(' | ')} |`,
      `| outside the heap (Buffers) | ${fl.points.map((p) => `${f1(mb(p.external ?? NaN))} MB`).join(' | ')} |`,
      '',
      `From ${fl.uploads / fl.rounds} to ${fl.uploads} uploads RSS moved by ` +
        `${f0(mb(fl.points.at(-1).rss - fl.points.find((p) => p.uploads === fl.uploads / fl.rounds).rss))} MB; ` +
        `slope (least squares): RSS **${f2(fl.rssSlopeMbPerUpload)} MB per upload** ` +
        `(goal < ${GOAL_FLAT_MB_PER_UPLOAD}: ${flatOk ? 'flat ✅' : 'growing ❌'}), JS heap ${f2(fl.heapSlopeMbPerUpload)} MB per upload. ` +
        `${cpuLabel}: ${cpuCell(fl.cpu)}.`,
      '',
    );
    verdicts.push({
      label: `memory flat over ${fl.uploads} uploads (RSS slope ${f2(fl.rssSlopeMbPerUpload)} MB per upload)`,
      ok: flatOk,
    });
    note('flat', fl.cpu);
  }

  lines.push(...table);
  const closingPart = closingLines({
    disturbed,
    limitPercent: DISTURBED_PERCENT,
    rivals: 'the uploader',
    verdicts,
    kind: 'goal',
    reports: `Full report of this run (not committed): \`artifacts/bench/media-${r.mode}.json\` (with the RSS series).`,
  });
  lines.push(...closingPart.lines);
  return { text: lines.join('\n'), table: table.join('\n'), allMet: closingPart.allMet };
}

/** --render <report.json>: the section again from a saved report (no run). */
function renderSaved(file) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const { text } = renderSection(report);
  writeSection(docPath, `media-${report.mode}`, text, undefined, {
    appendUnder: `### Results: media, ${report.mode === 'postgres' ? 'PostgreSQL mode' : 'embedded mode (PGlite)'}`,
  });
  say(`specs/benchmarks.md: media-${report.mode} section written from ${file}`);
  return 0;
}

await runBenchmark('bench:media', async () => (args.render ? renderSaved(args.render) : main()), {
  budgetMs: quick ? 10 * 60_000 : 40 * 60_000,
  cleanup,
});
