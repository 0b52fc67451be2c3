#!/usr/bin/env node
/**
 * `npm run bench:analysis`: does media analysis (OCR and labels, specs/media-analysis.md)
 * delay message delivery? Against a real server this script starts (embedded PGlite, or
 * PostgreSQL with DATABASE_URL: a fresh database, dropped afterwards), on loopback, with
 * MEDIA_ANALYSIS on and default settings otherwise (MEDIA_ANALYSIS_WORKERS 1).
 *
 *   baseline  one sender sends SENDS messages over its WebSocket (message:send, one every
 *             INTERVAL_MS) into a group of two; the time to each ack.
 *   analysis  an uploader posts PICTURES pictures with text (1280×720 screenshots rendered
 *             here with sharp), each in a message; once they are all processed (variants
 *             made) and the first are analysed, the sender sends the same way while the rest
 *             are being analysed. The window is kept inside the analysis: the
 *             queue (parley_media_analysis_queue_depth) must still hold pictures when the
 *             last send is acked, else the run says so.
 *   after     once every picture is analysed (models loaded, nothing left to read), the
 *             same sends again: the baseline's twin on a server that has run as long, so
 *             that the order of the phases does not pass for the analysis's doing.
 * Reported: send latency p50/p95/p99/max in each phase; the server process's RSS before and
 * while analysing and its peak (VmHWM); the analysis process's RSS with the models loaded
 * and its peak; pictures analysed per minute. Results replace the `analysis-<mode>` section of specs/benchmarks.md
 * (--quick: a small check, artifacts/bench/ only). Exit code: 0 done, 2 could not run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { fetchJson, summary } from './lib/measure.mjs';
import { parseMetrics, serverPid } from './lib/probe.mjs';
import { commitLabel, machineFacts, runBenchmark, writeSection } from './lib/report.mjs';
import { createCleanups, root, startFreshServer } from './lib/run-server.mjs';

const quick = process.argv.includes('--quick');
const mode = process.env.DATABASE_URL ? 'postgres' : 'pglite';
const SENDS = quick ? 40 : 1000;
const INTERVAL_MS = 50;
const PICTURES = quick ? 10 : 100;
const { cleanup, cleanups } = createCleanups();
const started = Date.now();
const say = (line) => console.log(`[bench:analysis ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes) => Math.round(bytes / 1e6);
const ms = (n) => (n === undefined ? '—' : `${n.toFixed(1)} ms`);

function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** The memory of the server's analysis processes (its children), summed; 0 when none runs. */
function analysisMemory(pid) {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean),
  );
  const total = { rss: 0, hwm: 0 };
  for (const child of children) {
    try {
      const m = memoryOf(child);
      total.rss += m.rss;
      total.hwm += m.hwm;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

function connect(base, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
    const acks = new Map();
    const timer = setTimeout(() => reject(new Error('socket did not authenticate in 60 s')), 60_000);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', id: 'auth', data: { token } })));
    ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString());
      if (frame.type !== 'ack') return;
      if (frame.id === 'auth') {
        clearTimeout(timer);
        if (frame.ok) resolve({ ws, acks });
        else reject(new Error(`auth refused: ${frame.error?.code}`));
        return;
      }
      acks.get(frame.id)?.(frame);
    });
  });
}

async function register(base, i) {
  const username = `ba_${i}_${randomBytes(3).toString('hex')}`;
  const reply = await fetchJson(base, 'POST', '/api/auth/register', {
    body: {
      username,
      email: `${username}@bench.invalid`,
      password: 'bench-analysis-password',
      displayName: `Bench analysis ${i}`,
      refreshTokenDelivery: 'body',
    },
    expect: 201,
  });
  return { id: reply.user.id, token: reply.accessToken };
}

/** SENDS messages, one every INTERVAL_MS; the time from each send to its ack, ms. */
async function sendRun(socket, chatId, label) {
  const latencies = [];
  const pending = [];
  for (let i = 0; i < SENDS; i++) {
    const id = `s${i}`;
    const t0 = performance.now();
    pending.push(
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ack for ${id} in 60 s`)), 60_000);
        socket.acks.set(id, (frame) => {
          clearTimeout(timer);
          socket.acks.delete(id);
          if (!frame.ok) return reject(new Error(`send refused: ${frame.error?.code}`));
          latencies.push(performance.now() - t0);
          resolve();
        });
      }),
    );
    socket.ws.send(
      JSON.stringify({
        type: 'message:send',
        id,
        data: { chatId, clientMsgId: randomUUID(), body: `${label} message ${i}` },
      }),
    );
    await sleep(INTERVAL_MS);
  }
  await Promise.all(pending);
  return summary(latencies);
}

/** A screenshot-like picture with a few lines of text. */
function screenshot(i) {
  const lines = [
    `Build ${1000 + i} failed: ECONNREFUSED 10.0.${i % 255}.7:5432`,
    `Invoice ${2026}-${100 + i} total ${(i * 13.7).toFixed(2)} EUR`,
    `Deployment checklist item ${i}: rollback plan reviewed`,
  ];
  const text = lines
    .map((l, n) => `<text x="40" y="${120 + n * 90}" font-family="DejaVu Sans" font-size="40">${l}</text>`)
    .join('');
  return sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="720"><rect width="100%" height="100%" fill="#fafafa"/>${text}</svg>`,
    ),
  )
    .png()
    .toBuffer();
}

/** A gauge of the server's /metrics (0 when absent). */
async function gauge(base, name) {
  const res = await fetch(`${base}/metrics`);
  return parseMetrics(await res.text()).get(name) ?? 0;
}
const queueDepth = (base) => gauge(base, 'parley_media_analysis_queue_depth');

async function main() {
  const server = await startFreshServer({
    name: 'bench-analysis',
    cleanups,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      MEDIA_ANALYSIS: 'on',
      JWT_SECRET: randomBytes(32).toString('hex'),
      SEND_RATE_PER_SECOND: '1000',
      SEND_BURST: '100000',
      USER_COMMAND_RATE_PER_SECOND: '100000',
      USER_COMMAND_BURST: '1000000',
      USER_READ_RATE_PER_SECOND: '100000',
      USER_READ_BURST: '1000000',
    },
  });
  const base = server.base;
  const pid = await serverPid(server.pid);
  const [sender, member, uploader] = [
    await register(base, 0),
    await register(base, 1),
    await register(base, 2),
  ];
  const group = await fetchJson(base, 'POST', '/api/chats/group', {
    token: sender.token,
    body: { name: 'bench', memberIds: [member.id] },
  });
  const pictures = await fetchJson(base, 'POST', '/api/chats/group', {
    token: uploader.token,
    body: { name: 'pictures', memberIds: [member.id] },
  });
  const socket = await connect(base, sender.token);
  cleanups.push(() => socket.ws.terminate());

  say(`baseline: ${SENDS} sends`);
  await sendRun(socket, group.id, 'warm-up');
  const idle = memoryOf(pid).rss;
  const baseline = await sendRun(socket, group.id, 'baseline');

  say(`uploading ${PICTURES} pictures`);
  const t0 = Date.now();
  for (let i = 0; i < PICTURES; i++) {
    const form = new FormData();
    form.append('file', new Blob([await screenshot(i)], { type: 'image/png' }), `shot-${i}.png`);
    const res = await fetch(`${base}/api/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${uploader.token}` },
      body: form,
    });
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
    const media = await res.json();
    await fetchJson(base, 'POST', `/api/chats/${pictures.id}/messages`, {
      token: uploader.token,
      body: { clientMsgId: randomUUID(), body: '', attachments: [media.id] },
      expect: 201,
    });
  }
  // Measure only while pictures are analysed: every upload processed (its variants made, so
  // the window holds no picture processing) and the first analyses done (the models loaded).
  for (let i = 0; i < 600; i++) {
    const processing = await gauge(base, 'parley_media_queue_depth');
    if (processing === 0 && (await queueDepth(base)) < PICTURES) break;
    await sleep(500);
  }
  const depthBefore = await queueDepth(base);
  const pausedBefore = await gauge(base, 'parley_media_analysis_paused_seconds_total');
  say(`sending while analysing (queue: ${depthBefore})`);
  const windowStart = Date.now();
  const during = await sendRun(socket, group.id, 'analysis');
  const windowSeconds = (Date.now() - windowStart) / 1000;
  const depthAfter = await queueDepth(base);
  const paused = (await gauge(base, 'parley_media_analysis_paused_seconds_total')) - pausedBefore;
  const loaded = memoryOf(pid).rss;
  const analysisLoaded = analysisMemory(pid).rss;
  let depth = depthAfter;
  for (let i = 0; i < 1200 && depth > 0; i++) {
    await sleep(500);
    depth = await queueDepth(base);
  }
  const allMs = Date.now() - t0;
  say(`sending after the analysis (queue: ${depth})`);
  const after = await sendRun(socket, group.id, 'after');
  const peak = memoryOf(pid).hwm;
  const analysisPeak = analysisMemory(pid).hwm;
  const report = {
    mode,
    commit: commitLabel(),
    machine: machineFacts(),
    sends: SENDS,
    intervalMs: INTERVAL_MS,
    pictures: PICTURES,
    baseline,
    during,
    after,
    queue: { before: depthBefore, after: depthAfter },
    analysisPausedSeconds: { paused, window: windowSeconds },
    rssMb: { idle: mb(idle), whileAnalysing: mb(loaded), peak: mb(peak) },
    analysisProcessMb: { modelsLoaded: mb(analysisLoaded), peak: mb(analysisPeak) },
    analysedPerMinute: depth === 0 ? (PICTURES / allMs) * 60_000 : undefined,
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  const outDir = path.join(root, 'artifacts', 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `analysis-${mode}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
  const inside = depthAfter > 0;
  const section = [
    `Run: ${new Date().toISOString().slice(0, 16)}Z, ${report.commit}, ${mode === 'postgres' ? 'PostgreSQL' : 'embedded PGlite'}, ${report.machine.cpus} cores, load average at the end ${report.loadavg}.`,
    `One sender, ${SENDS} sends over its WebSocket (one every ${INTERVAL_MS} ms) into a group of two; latency = send to ack. ` +
      `"While analysing": ${PICTURES} screenshots of 1280×720 with three lines of text each were posted first; ` +
      `${depthBefore} of them were waiting for analysis when the sends began and ${depthAfter} when the last was acked` +
      (inside ? ' (the whole window inside the analysis).' : ' (⚠️ the analysis ended inside the window).'),
    '',
    '| sends | p50 | p95 | p99 | max |',
    '|---|---|---|---|---|',
    `| baseline (nothing analysed, models not loaded) | ${ms(baseline.p50)} | ${ms(baseline.p95)} | ${ms(baseline.p99)} | ${ms(baseline.max)} |`,
    `| while ${PICTURES} pictures are analysed (MEDIA_ANALYSIS_WORKERS=1) | ${ms(during.p50)} | ${ms(during.p95)} | ${ms(during.p99)} | ${ms(during.max)} |`,
    `| after (every picture analysed, models loaded) | ${ms(after.p50)} | ${ms(after.p95)} | ${ms(after.p99)} | ${ms(after.max)} |`,
    '',
    `While analysing, the analysis process was stopped for sends ${paused.toFixed(1)} s of the window's ${windowSeconds.toFixed(0)} s ` +
      '(`parley_media_analysis_paused_seconds_total`).',
    '',
    `Server process RSS: ${report.rssMb.idle} MB before any analysis, ${report.rssMb.whileAnalysing} MB while analysing, ` +
      `peak ${report.rssMb.peak} MB (VmHWM, the whole run, uploads included). ` +
      `Analysis process (one, MEDIA_ANALYSIS_WORKERS=1): ${report.analysisProcessMb.modelsLoaded} MB with the models loaded, ` +
      `peak ${report.analysisProcessMb.peak} MB (VmHWM). ` +
      (report.analysedPerMinute
        ? `Analysis rate: ${report.analysedPerMinute.toFixed(0)} pictures a minute (posting included).`
        : ''),
    '',
    `Full report: artifacts/bench/analysis-${mode}.json (\`npm run bench:analysis\`).`,
  ].join('\n');
  if (!quick) {
    writeSection(path.join(root, 'specs', 'benchmarks.md'), `analysis-${mode}`, section, undefined, {
      appendUnder: `## Media analysis (${mode === 'postgres' ? 'PostgreSQL' : 'embedded'})`,
    });
  }
  console.log(section);
  return 0;
}

await runBenchmark('bench:analysis', main, { budgetMs: 30 * 60_000, cleanup });
