#!/usr/bin/env node
/**
 * `npm run bench:sockets`: WebSockets at scale on one node, against a fresh server
 * (embedded PGlite, or PostgreSQL with DATABASE_URL).
 *
 * 1. Idle sockets: 1,000 users × 10 devices = 10,000 authenticated WebSockets, opened with
 *    bounded concurrency (each device is its own socket; the devices of a user share the
 *    user's session and access token, from one registration). Reported: the time to
 *    connect them all, and the server's memory before and after (resident, from /proc, and
 *    the JavaScript heap, from /metrics), per socket.
 * 2. Reconnect storm: every device keeps the inbox position of the last event it
 *    processed. Messages are sent over REST while the devices are connected, then every
 *    socket is dropped, more messages are sent, and all 10,000 reconnect at once: each
 *    authenticates, sends `sync:resume` with its last position and gets what it missed
 *    before the ack (or `sync:resync`, after which it would fetch over REST: it does, and
 *    those are counted apart). Reported: the time until every socket has resumed, and
 *    whether every device got every message of its chat exactly once.
 *
 * The results go into the sockets section of specs/benchmarks.md for the mode.
 * `--quick` runs 100 users × 10 devices and writes artifacts/bench/ only.
 *
 * Exit code: 0 every goal met, 1 a goal missed (the numbers are still written), 2 it could
 * not run. Every wait has a deadline and every loop a count.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';
import WebSocket from 'ws';
import {
  createProbe,
  isLocalPostgres,
  machineBusy,
  machineCpuSeconds,
  postgresCpuSeconds,
  processCpuSeconds,
  processRssBytes,
  sampleAtOrBefore,
  serverPid,
} from './lib/probe.mjs';
import { closingLines, commitLabel, machineFacts, writeSection } from './lib/report.mjs';
import { createCleanups, root, startFreshServer } from './lib/run-server.mjs';

// The wire schemas come from the contract, as in every client (TypeScript, through tsx).
register();
const { ackDataSchemas, ackFrameSchema, authResultSchema, chatSchema, messagePageSchema, messageSchema } =
  await import('@parley/contracts');

let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    options: { quick: { type: 'boolean' }, 'hold-position': { type: 'boolean' } },
    strict: true,
  }).values;
} catch (err) {
  console.error(`bench-sockets: ${err.message}; options: --quick, --hold-position`);
  process.exit(2);
}
const quick = args.quick === true;
/**
 * Off (the default): a device does what specs/protocol.md says and the web app does: the
 * position it resumes from is that of the last event frame it processed, also one that
 * arrived on the new socket before the auth ack. On: a reconnecting device ignores the
 * positions of frames that arrive before its resume ack (a diagnostic: see the results).
 */
const holdPosition = args['hold-position'] === true;
const mode = process.env.DATABASE_URL ? 'postgres' : 'pglite';

const scenario = {
  users: quick ? 100 : 1_000,
  devicesPerUser: 10,
  groupSize: 10,
  /** Sockets being opened at once in the first connect (not in the storm: that is all at once). */
  connectConcurrency: 200,
  /** Sent over REST while every device is connected, and while none is: per group. */
  liveMessagesPerGroup: 2,
  offlineMessagesPerGroup: 10,
  restConcurrency: 8,
};
const GOALS = { sockets: scenario.users * scenario.devicesPerUser, resumeAllMs: 10_000 };
const RUN_BUDGET_MS = quick ? 180_000 : 420_000;
const outDir = path.join(root, 'artifacts', 'bench');
const docPath = path.join(root, 'specs', 'benchmarks.md');

const { cleanups, cleanup } = createCleanups();
const started = Date.now();
const say = (line) => console.log(`[bench:sockets ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items`, at most `limit` at once; the first failure rejects. */
async function mapConcurrent(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Waits until `done()` or the deadline; true when done. */
async function until(done, timeoutMs, stepMs = 50) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await sleep(stepMs);
  }
  return done();
}

function percentile(sorted, q) {
  if (!sorted.length) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** A REST call checked against the contract's schema; 429/503 are retried (bounded). */
async function api(base, method, url, { body, token, schema }) {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: {
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if ((res.status === 429 || res.status === 503) && attempt < 5) {
      await sleep(500 * attempt);
      continue;
    }
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 200)}`);
    const parsed = schema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${method} ${url}: the response does not match the contract`);
    return parsed.data;
  }
}

/**
 * One device: its sockets over time (one, then a new one after the drop), the inbox
 * position of the last event it processed, and every message it got (by id, with count).
 */
function newDevice(index, user) {
  return {
    index,
    user,
    socket: undefined,
    position: undefined,
    received: new Map(),
    /** Highest seq seen per chat (for a REST catch-up after a resync). */
    lastSeq: new Map(),
    resync: undefined,
    resumed: undefined,
    authAcked: false,
    /** Event frames on the current socket before its auth ack. */
    earlyEvents: 0,
    holding: false,
    replayed: 0,
    openedAt: 0,
    readyAt: 0,
    failure: undefined,
  };
}

const counters = { frames: 0, invalid: 0, byType: {} };

/** Handles an event frame on a device: position, messages, resyncs. */
function onEvent(device, frame) {
  counters.frames += 1;
  counters.byType[frame.type] = (counters.byType[frame.type] ?? 0) + 1;
  if (!device.authAcked) device.earlyEvents += 1;
  // --hold-position: a reconnecting device keeps the position it resumes from until the resume ack.
  if (typeof frame.position === 'string' && !device.holding) device.position = frame.position;
  if (frame.type === 'message:new') {
    const msg = frame.data?.message;
    if (!msg || typeof msg.id !== 'string') {
      counters.invalid += 1;
      return;
    }
    device.received.set(msg.id, (device.received.get(msg.id) ?? 0) + 1);
    if (msg.seq > (device.lastSeq.get(msg.chatId) ?? 0)) device.lastSeq.set(msg.chatId, msg.seq);
  } else if (frame.type === 'sync:resync') {
    device.resync = frame.data?.reason ?? 'unknown';
  }
}

/**
 * Opens a socket for `device` and authenticates it (Origin: the server's own). With
 * `resume`, sends `sync:resume` with the device's last position after the auth ack, and
 * resolves at that ack. Rejects on a refusal, a close or the timeout.
 */
function connect(device, { wsUrl, origin, token, resume, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, { origin, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    device.socket = socket;
    device.openedAt = performance.now();
    let settled = false;
    const finish = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        device.failure = err;
        reject(new Error(err));
      } else {
        device.readyAt = performance.now();
        resolve();
      }
    };
    const timer = setTimeout(() => finish('no ack in time'), timeoutMs);
    socket.on('unexpected-response', (_req, res) => finish(`upgrade refused: HTTP ${res.statusCode}`));
    socket.on('error', (err) => finish(`socket error: ${err.code ?? err.message}`));
    socket.on('close', (code) => finish(`closed: ${code}`));
    device.authAcked = false;
    device.earlyEvents = 0;
    device.holding = resume && holdPosition;
    socket.on('open', () => {
      device.wsOpenAt = performance.now();
      socket.send(JSON.stringify({ type: 'auth', id: 'auth', data: { token } }));
    });
    socket.on('message', (raw) => {
      let frame;
      try {
        frame = JSON.parse(raw.toString());
      } catch {
        counters.invalid += 1;
        return;
      }
      if (frame.type !== 'ack') return onEvent(device, frame);
      const ack = ackFrameSchema.safeParse(frame);
      if (!ack.success || !ack.data.ok) {
        return finish(
          `${frame.id} refused: ${ack.success && !ack.data.ok ? ack.data.error.code : 'bad ack'}`,
        );
      }
      if (frame.id === 'auth') {
        const data = ackDataSchemas.auth.safeParse(ack.data.data);
        if (!data.success) return finish('auth: bad ack');
        device.authAcked = true;
        if (!resume) {
          device.position = data.data.position;
          return finish();
        }
        socket.send(
          JSON.stringify({ type: 'sync:resume', id: 'resume', data: { position: device.position } }),
        );
      } else if (frame.id === 'resume') {
        const data = ackDataSchemas['sync:resume'].safeParse(ack.data.data);
        if (!data.success) return finish('resume: bad ack');
        device.holding = false;
        device.resumed = data.data.resumed;
        device.replayed = data.data.replayed;
        device.position = data.data.position;
        finish();
      }
    });
  });
}

/**
 * The kernel's count of connections refused because a listening socket's accept queue was
 * full (TcpExt ListenOverflows, ListenDrops in /proc/net/netstat; this network namespace).
 * A refused SYN is sent again by the client's kernel after 1 s, 3 s, 7 s, 15 s, ...
 */
function listenDrops() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i].split(/\s+/);
    const values = lines[i + 1].split(/\s+/);
    const get = (name) => Number(values[names.indexOf(name)]);
    return { overflows: get('ListenOverflows'), drops: get('ListenDrops') };
  } catch {
    return undefined;
  }
}

function dropsSince(before) {
  const now = listenDrops();
  return before && now
    ? { overflows: now.overflows - before.overflows, drops: now.drops - before.drops }
    : undefined;
}

/** One value of the server's /metrics (a gauge or counter without labels). */
async function serverMetric(base, name) {
  try {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Open sockets, as the server counts them. */
const serverSockets = (base) => serverMetric(base, 'parley_ws_connections');
/** Statements the server sent to the database (PostgreSQL: all; PGlite: the hot paths only). */
const serverStatements = (base) => serverMetric(base, 'parley_db_statements_total');

/**
 * The server's memory once it has settled: resident memory (/proc) sampled every 500 ms
 * until the last 3 s stay within 1 % (password hashing and garbage collection leave it
 * moving for a while), at most `timeoutMs`; then the median of those samples, and of the
 * JavaScript heap in use (/metrics).
 */
async function settledMemory(base, pid, timeoutMs = 30_000) {
  const rss = [];
  const heap = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    rss.push(processRssBytes(pid));
    try {
      const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      const m = /^parley_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
      if (m) heap.push(Number(m[1]));
    } catch {
      // skip this one
    }
    const last = rss.slice(-6);
    const settled = last.length === 6 && Math.max(...last) - Math.min(...last) <= 0.01 * Math.min(...last);
    if (settled || Date.now() >= deadline) {
      const median = (xs) =>
        xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : undefined;
      return {
        rssBytes: median(last),
        heapUsedBytes: median(heap.slice(-6)),
        settled,
        waitedS: rss.length / 2,
      };
    }
    await sleep(500);
  }
}

/** Sends `perGroup` messages into every group over REST, each from a different member; returns them. */
async function sendMessages(base, users, groups, perGroup, label) {
  const plan = groups.flatMap((g, gi) =>
    Array.from({ length: perGroup }, (_, k) => ({
      group: g,
      sender: users[g.members[k % g.members.length]],
      gi,
      k,
    })),
  );
  const t0 = performance.now();
  const sent = await mapConcurrent(plan, scenario.restConcurrency, async ({ group, sender, gi, k }) => {
    const message = await api(base, 'POST', `/api/chats/${group.id}/messages`, {
      token: sender.token,
      body: { clientMsgId: randomUUID(), body: `bench:sockets ${label} ${gi}.${k}` },
      schema: messageSchema,
    });
    return { id: message.id, chatId: group.id };
  });
  return { sent, seconds: (performance.now() - t0) / 1000 };
}

/**
 * CPU of a step, in seconds: the server, this process (the client), PostgreSQL (when it
 * runs here) and everything else on the machine, which competed with them for the cores.
 */
function cpuMeter(pid) {
  const pgLocal = isLocalPostgres(process.env.DATABASE_URL);
  const read = () => ({
    at: performance.now(),
    server: processCpuSeconds(pid),
    client: process.cpuUsage(),
    pg: pgLocal ? postgresCpuSeconds() : 0,
    machine: machineCpuSeconds(),
  });
  const a = read();
  return () => {
    const b = read();
    const c = process.cpuUsage(a.client);
    const out = {
      seconds: (b.at - a.at) / 1000,
      serverS: b.server - a.server,
      clientS: (c.user + c.system) / 1e6,
      postgresS: pgLocal ? b.pg - a.pg : undefined,
    };
    out.otherS = Math.max(0, b.machine - a.machine - out.serverS - out.clientS - (out.postgresS ?? 0));
    return out;
  };
}

/** Sockets that got event frames before their auth ack, and how many frames. */
function early(devices) {
  const hit = devices.filter((d) => d.earlyEvents > 0);
  return { sockets: hit.length, frames: hit.reduce((n, d) => n + d.earlyEvents, 0) };
}

/** Every device's missing and duplicated messages, against what was sent into its chat. */
function ledger(devices, expectedByChat, chatOfUser) {
  let expected = 0;
  let missing = 0;
  let duplicates = 0;
  let devicesMissing = 0;
  const examples = [];
  for (const d of devices) {
    const want = expectedByChat.get(chatOfUser[d.user]) ?? [];
    expected += want.length;
    let m = 0;
    for (const id of want) {
      const n = d.received.get(id) ?? 0;
      if (n === 0) m += 1;
      if (n > 1) duplicates += n - 1;
    }
    missing += m;
    if (m) {
      devicesMissing += 1;
      if (examples.length < 20) {
        examples.push({
          device: d.index,
          user: d.user,
          chatId: chatOfUser[d.user],
          missing: want.filter((id) => !d.received.has(id)),
          resumed: d.resumed,
          replayed: d.replayed,
        });
      }
    }
  }
  return { expected, received: expected - missing, missing, duplicates, devicesMissing, examples };
}

async function main() {
  const budget = setTimeout(() => {
    console.error(`bench:sockets: over the ${RUN_BUDGET_MS / 1000} s budget; aborting`);
    void cleanup().finally(() => process.exit(2));
  }, RUN_BUDGET_MS);
  budget.unref();
  mkdirSync(outDir, { recursive: true });

  let busy = await machineBusy(3_000);
  for (let waited = 0; busy > 25 && waited < (quick ? 10_000 : 120_000); waited += 5_000) {
    say(`the machine is ${busy.toFixed(0)} % busy (100 = one core); waiting for it to quieten`);
    busy = await machineBusy(5_000);
  }
  const load = os.loadavg()[0].toFixed(2);
  say(`the machine is ${busy.toFixed(0)} % busy, load average ${load}`);

  const server = await startFreshServer({
    name: 'bench-sockets',
    cleanups,
    // Production, as operators run it: a real secret, default limits and log level.
    env: { NODE_ENV: 'production', JWT_SECRET: randomBytes(32).toString('hex') },
  });
  const { base } = server;
  const pid = await serverPid(server.pid);
  const wsUrl = `${base.replace(/^http/, 'ws')}/ws`;
  say(`server up at ${base} (pid ${pid}, ${mode})`);
  const probe = createProbe({ base, pid });
  await probe.start(500);
  cleanups.push(() => probe.stop());

  // Preparation: users (one registration each: the server hashes every password) and groups.
  const password = `bench-${randomBytes(12).toString('hex')}`;
  const run = randomBytes(3).toString('hex');
  let t = performance.now();
  const users = await mapConcurrent(
    Array.from({ length: scenario.users }, (_, i) => i),
    8,
    async (i) => {
      const username = `bs${run}_${i}`;
      const res = await api(base, 'POST', '/api/auth/register', {
        body: {
          username,
          email: `${username}@bench.invalid`,
          password,
          displayName: `Sockets ${i}`,
          deviceName: 'bench-sockets',
          refreshTokenDelivery: 'body',
        },
        schema: authResultSchema,
      });
      return { id: res.user.id, token: res.accessToken };
    },
  );
  const registerS = (performance.now() - t) / 1000;
  t = performance.now();
  const plan = [];
  for (let s = 0; s < scenario.users; s += scenario.groupSize)
    plan.push(Array.from({ length: Math.min(scenario.groupSize, scenario.users - s) }, (_, k) => s + k));
  const groups = await mapConcurrent(plan, 16, async (members, gi) => {
    const chat = await api(base, 'POST', '/api/chats/group', {
      token: users[members[0]].token,
      body: { name: `Sockets ${run} ${gi}`, memberIds: members.slice(1).map((u) => users[u].id) },
      schema: chatSchema,
    });
    return { id: chat.id, members };
  });
  const chatOfUser = [];
  for (const g of groups) for (const u of g.members) chatOfUser[u] = g.id;
  const chatsS = (performance.now() - t) / 1000;
  say(
    `prepared ${users.length} users in ${registerS.toFixed(1)} s and ${groups.length} groups in ${chatsS.toFixed(1)} s`,
  );

  // 1. Idle sockets.
  const memBefore = await settledMemory(base, pid);
  const devices = [];
  for (let u = 0; u < users.length; u++)
    for (let k = 0; k < scenario.devicesPerUser; k++) devices.push(newDevice(devices.length, u));
  say(`opening ${devices.length} sockets, ${scenario.connectConcurrency} at once`);
  const connectCpu = cpuMeter(pid);
  const statements0 = await serverStatements(base);
  const listen0 = listenDrops();
  const connectStart = performance.now();
  const connectFailures = {};
  await mapConcurrent(devices, scenario.connectConcurrency, (d) =>
    connect(d, { wsUrl, origin: base, token: users[d.user].token, resume: false, timeoutMs: 30_000 }).catch(
      (err) => {
        connectFailures[err.message] = (connectFailures[err.message] ?? 0) + 1;
      },
    ),
  );
  const connectAllMs = performance.now() - connectStart;
  const connectCpuUse = connectCpu();
  const connectListenDrops = dropsSince(listen0);
  const connectStatements = (await serverStatements(base)) - statements0;
  const opened = devices.filter((d) => !d.failure).length;
  const earlyOnConnect = early(devices);
  const connectLatencies = devices
    .filter((d) => !d.failure)
    .map((d) => d.readyAt - d.openedAt)
    .sort((a, b) => a - b);
  say(`${opened}/${devices.length} open in ${(connectAllMs / 1000).toFixed(1)} s`);
  // Idle: every socket open and presence traffic over.
  const framesAt = () => counters.frames;
  let lastFrames = -1;
  await until(
    async () => {
      const now = framesAt();
      const quiet = now === lastFrames;
      lastFrames = now;
      return quiet && (await serverSockets(base)) === opened;
    },
    20_000,
    1_000,
  );
  const serverCounted = await serverSockets(base);
  const memAfter = await settledMemory(base, pid);
  const perSocket = (k) =>
    memAfter[k] !== undefined && memBefore[k] !== undefined && opened
      ? (memAfter[k] - memBefore[k]) / opened
      : undefined;
  say(
    `server RSS ${(memBefore.rssBytes / 1048576).toFixed(0)} → ${(memAfter.rssBytes / 1048576).toFixed(0)} MiB: ` +
      `${((perSocket('rssBytes') ?? 0) / 1024).toFixed(1)} KiB per socket`,
  );

  // 2. Messages while connected, the drop, messages while disconnected, the storm.
  const expectedByChat = new Map();
  const expect = (list) => {
    for (const { id, chatId } of list)
      expectedByChat.set(chatId, [...(expectedByChat.get(chatId) ?? []), id]);
  };
  const live = await sendMessages(base, users, groups, scenario.liveMessagesPerGroup, 'live');
  expect(live.sent);
  say(
    `sent ${live.sent.length} messages while connected (${live.seconds.toFixed(1)} s); waiting for every device to get them`,
  );
  const liveArrived = await until(
    () => ledger(devices, expectedByChat, chatOfUser).missing === 0,
    30_000,
    200,
  );
  const liveLedger = ledger(devices, expectedByChat, chatOfUser);
  await sleep(1_000); // the receipts of those deliveries
  say(
    `live: ${liveLedger.received}/${liveLedger.expected} deliveries${liveArrived ? '' : ' (not all in 30 s)'}`,
  );

  // Drop every socket at once, as a lost network would (no close handshake).
  for (const d of devices) d.socket?.terminate();
  const dropped = await until(async () => (await serverSockets(base)) === 0, 30_000, 250);
  say(`dropped every socket; the server ${dropped ? 'saw them all go' : 'still counts some open'}`);
  const offline = await sendMessages(base, users, groups, scenario.offlineMessagesPerGroup, 'offline');
  expect(offline.sent);
  say(`sent ${offline.sent.length} messages while disconnected (${offline.seconds.toFixed(1)} s)`);
  await sleep(2_000); // the relay appends them to the inboxes after commit

  say(`reconnecting all ${devices.length} devices at once, each resuming from its last position`);
  for (const d of devices) {
    d.failure = undefined;
    d.resync = undefined;
    d.resumed = undefined;
  }
  const stormFailures = {};
  const stormCpu = cpuMeter(pid);
  const stormFrom = Date.now();
  const statements1 = await serverStatements(base);
  const listen1 = listenDrops();
  const stormStart = performance.now();
  await Promise.all(
    devices.map((d) =>
      connect(d, { wsUrl, origin: base, token: users[d.user].token, resume: true, timeoutMs: 60_000 }).catch(
        (err) => {
          stormFailures[err.message] = (stormFailures[err.message] ?? 0) + 1;
        },
      ),
    ),
  );
  const stormListenDrops = dropsSince(listen1);
  const stormStatements = (await serverStatements(base)) - statements1;
  const stormDone = devices.filter((d) => !d.failure);
  // When the WebSocket was open (TCP connected, upgrade answered), and from then to the resume ack.
  const openTimes = stormDone.map((d) => d.wsOpenAt - stormStart).sort((a, b) => a - b);
  const openToResume = stormDone.map((d) => d.readyAt - d.wsOpenAt).sort((a, b) => a - b);
  const earlyInStorm = early(devices);
  const stormAllMs = Math.max(0, ...stormDone.map((d) => d.readyAt - stormStart));
  const stormCpuUse = stormCpu();
  const stormTo = Date.now();
  const resumeTimes = stormDone.map((d) => d.readyAt - stormStart).sort((a, b) => a - b);
  const resumed = devices.filter((d) => d.resumed === true).length;
  const resynced = devices.filter((d) => d.resync !== undefined || d.resumed === false);
  const replayed = devices.reduce((n, d) => n + d.replayed, 0);
  const atAck = ledger(devices, expectedByChat, chatOfUser);
  say(
    `${resumed} resumed, ${resynced.length} told to resync, ${devices.length - stormDone.length} failed; ` +
      `all in ${(stormAllMs / 1000).toFixed(2)} s`,
  );

  // A resynced device fetches what it lacks over REST (protocol.md, "Re-sync").
  let viaRest = 0;
  await mapConcurrent(resynced, scenario.restConcurrency, async (d) => {
    const chatId = chatOfUser[d.user];
    let after = d.lastSeq.get(chatId) ?? 0;
    for (let page = 0; page < 100; page++) {
      const res = await api(base, 'GET', `/api/chats/${chatId}/messages?after=${after}&limit=100`, {
        token: users[d.user].token,
        schema: messagePageSchema,
      });
      for (const m of res.messages) {
        if (!d.received.has(m.id)) viaRest += 1;
        d.received.set(m.id, Math.max(1, d.received.get(m.id) ?? 0));
        after = Math.max(after, m.seq);
      }
      if (!res.hasMoreAfter) break;
    }
  });
  // Anything still on its way (nothing should be: the replay comes before the ack).
  await until(() => ledger(devices, expectedByChat, chatOfUser).missing === 0, 10_000, 200);
  await sleep(1_000);
  const final = ledger(devices, expectedByChat, chatOfUser);
  const memStorm = Math.max(
    0,
    ...probe.samples.filter((s) => s.at >= stormFrom && s.at <= stormTo + 1_000).map((s) => s.rssBytes ?? 0),
  );
  const stormSample = sampleAtOrBefore(probe.samples, stormTo + 1_000);
  for (const d of devices) d.socket?.terminate();
  await probe.stop();

  const result = {
    mode,
    quick,
    startedAt: new Date(started).toISOString(),
    machine: {
      ...machineFacts(),
      busyBeforePercent: busy,
      load,
    },
    scenario,
    preparation: { registerS, chatsS, groups: groups.length },
    idle: {
      sockets: devices.length,
      opened,
      failures: connectFailures,
      serverCounted,
      connectAllMs,
      connectP50Ms: percentile(connectLatencies, 0.5),
      connectP99Ms: percentile(connectLatencies, 0.99),
      cpu: connectCpuUse,
      memBefore,
      memAfter,
      earlyEvents: earlyOnConnect,
      listenDrops: connectListenDrops,
      statements: connectStatements,
      rssPerSocketBytes: perSocket('rssBytes'),
      heapPerSocketBytes: perSocket('heapUsedBytes'),
    },
    storm: {
      liveMessages: live.sent.length,
      liveDelivered: liveLedger,
      offlineMessages: offline.sent.length,
      serverSawDrop: dropped,
      allMs: stormAllMs,
      p50Ms: percentile(resumeTimes, 0.5),
      p90Ms: percentile(resumeTimes, 0.9),
      p99Ms: percentile(resumeTimes, 0.99),
      resumed,
      resynced: resynced.length,
      failed: devices.length - stormDone.length,
      failures: stormFailures,
      replayedEvents: replayed,
      earlyEvents: earlyInStorm,
      listenDrops: stormListenDrops,
      statements: stormStatements,
      allOpenMs: openTimes.at(-1),
      openP50Ms: percentile(openTimes, 0.5),
      openToResumeP50Ms: percentile(openToResume, 0.5),
      openToResumeP99Ms: percentile(openToResume, 0.99),
      holdPosition,
      atAck,
      viaRest,
      final,
      cpu: stormCpuUse,
      rssMaxBytes: memStorm || undefined,
      rssAfterBytes: stormSample?.rssBytes,
    },
    frames: { total: counters.frames, invalid: counters.invalid, byType: counters.byType },
  };
  const name = `${quick ? 'quick-' : ''}sockets-${mode}`;
  writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const { text, allMet } = render(result, name);
  if (quick) say('quick run: specs/benchmarks.md left as it is');
  else {
    writeSection(docPath, `sockets-${mode}`, text);
    say(`wrote the sockets-${mode} section of specs/benchmarks.md`);
  }
  console.log(`\n${text}\n`);
  return allMet ? 0 : 1;
}

const int = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const s2 = (ms) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);
const mib = (b) => (b === undefined ? '—' : `${(b / 1048576).toFixed(0)} MiB`);
const mark = (ok) => (ok ? '✅' : '❌');

/** A table row: CPU seconds of a step by process, and the server's per socket. */
function cpuRow(step, cpu, sockets) {
  const pct = (x) => `${((x / Math.max(0.001, cpu.seconds)) * 100).toFixed(0)} %`;
  return (
    `| CPU ${step} (${cpu.seconds.toFixed(1)} s): server / client${cpu.postgresS === undefined ? '' : ' / PostgreSQL'} / other processes ` +
    `| ${cpu.serverS.toFixed(1)} s (${pct(cpu.serverS)} of a core; ${((cpu.serverS * 1000) / Math.max(1, sockets)).toFixed(2)} ms per socket) / ` +
    `${cpu.clientS.toFixed(1)} s${cpu.postgresS === undefined ? '' : ` / ${cpu.postgresS.toFixed(1)} s`} / ${cpu.otherS.toFixed(1)} s (${pct(cpu.otherS)}) |`
  );
}

function render(r, name) {
  const { idle, storm, machine: m } = r;
  const n = idle.sockets;
  const verdicts = [
    {
      label: `${int(GOALS.sockets)} sockets open`,
      ok: idle.opened >= GOALS.sockets && idle.serverCounted === idle.opened,
    },
    {
      label: `every socket resumed within ${GOALS.resumeAllMs / 1000} s`,
      ok: storm.failed === 0 && storm.resumed === n && storm.allMs <= GOALS.resumeAllMs,
    },
    { label: 'nothing lost', ok: storm.final.missing === 0 },
    { label: 'nothing duplicated', ok: storm.final.duplicates === 0 },
  ];
  const ok = (label) => mark(verdicts.find((v) => v.label === label).ok);
  const failures = (f) =>
    Object.keys(f).length
      ? ` (${Object.entries(f)
          .map(([k, v]) => `${v} × ${k}`)
          .join('; ')})`
      : '';
  const lines = [];
  lines.push(
    `Run on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC · commit ${commitLabel()} · ${m.cpus} × ${m.cpuModel}, ` +
      `${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB RAM · ${m.platform} · Node ${m.node}`,
  );
  lines.push('');
  lines.push(
    `Server: ${r.mode === 'postgres' ? 'PostgreSQL on the same machine (fresh database)' : 'embedded PGlite (temporary DATA_DIR)'}, ` +
      '`NODE_ENV=production`, default settings, on the same machine as the client (one Node process holding every socket). ' +
      `${int(r.scenario.users)} users × ${r.scenario.devicesPerUser} devices (a device's sockets share its user's session), ` +
      `${r.preparation.groups} groups of ${r.scenario.groupSize}. Preparation: registrations in ${r.preparation.registerS.toFixed(1)} s, groups in ${r.preparation.chatsS.toFixed(1)} s. ` +
      `Before the run the machine was ${m.busyBeforePercent.toFixed(0)} % busy (100 = one core; load average ${m.load}).`,
  );
  lines.push('');
  lines.push('| idle sockets | |');
  lines.push('|---|---|');
  lines.push(
    `| sockets opened and authenticated (goal ${int(GOALS.sockets)}) | ${int(idle.opened)} of ${int(n)}, ${int(n - idle.opened)} failed${failures(idle.failures)}; the server counted ${int(idle.serverCounted)} ${ok(`${int(GOALS.sockets)} sockets open`)} |`,
  );
  lines.push(
    `| time to connect them all (${r.scenario.connectConcurrency} at once) | ${s2(idle.connectAllMs)}; per socket, open to auth ack: p50 ${idle.connectP50Ms?.toFixed(1)} ms, p99 ${idle.connectP99Ms?.toFixed(1)} ms |`,
  );
  lines.push(
    `| connection attempts the kernel refused, accept queue full (ListenOverflows / ListenDrops) | ${idle.listenDrops ? `${int(idle.listenDrops.overflows)} / ${int(idle.listenDrops.drops)}` : '—'} |`,
  );
  if (r.mode === 'postgres') {
    lines.push(
      `| database statements while connecting | ${int(idle.statements)} (${(idle.statements / Math.max(1, idle.opened)).toFixed(2)} per socket) |`,
    );
  }
  lines.push(cpuRow('while connecting', idle.cpu, idle.opened));
  lines.push(
    `| server memory before → after, settled: resident (/proc); JavaScript heap used | ${mib(idle.memBefore.rssBytes)} → ${mib(idle.memAfter.rssBytes)}; ${mib(idle.memBefore.heapUsedBytes)} → ${mib(idle.memAfter.heapUsedBytes)}${idle.memBefore.settled && idle.memAfter.settled ? '' : ' (did not settle within 30 s)'} |`,
  );
  lines.push(
    `| **memory per idle socket** (resident / JavaScript heap used) | **${idle.rssPerSocketBytes === undefined ? '—' : `${(idle.rssPerSocketBytes / 1024).toFixed(1)} KiB`}** / ${idle.heapPerSocketBytes === undefined ? '—' : `${(idle.heapPerSocketBytes / 1024).toFixed(1)} KiB`} |`,
  );
  lines.push('');
  lines.push('| reconnect storm | |');
  lines.push('|---|---|');
  lines.push(
    `| messages while connected / while disconnected (REST) | ${int(storm.liveMessages)} (${int(storm.liveDelivered.received)} of ${int(storm.liveDelivered.expected)} deliveries live) / ${int(storm.offlineMessages)} |`,
  );
  lines.push(
    `| **time until every socket resumed** (goal ≤ ${GOALS.resumeAllMs / 1000} s) | **${s2(storm.allMs)}** ${ok(`every socket resumed within ${GOALS.resumeAllMs / 1000} s`)}; per socket p50 ${s2(storm.p50Ms)}, p90 ${s2(storm.p90Ms)}, p99 ${s2(storm.p99Ms)} |`,
  );
  lines.push(
    `| WebSockets open (TCP connected, upgrade answered): p50 / all | ${s2(storm.openP50Ms)} / ${s2(storm.allOpenMs)}; then to the resume ack: p50 ${s2(storm.openToResumeP50Ms)}, p99 ${s2(storm.openToResumeP99Ms)} |`,
  );
  lines.push(
    `| connection attempts the kernel refused, accept queue full (ListenOverflows / ListenDrops) | ${storm.listenDrops ? `${int(storm.listenDrops.overflows)} / ${int(storm.listenDrops.drops)}` : '—'} |`,
  );
  lines.push(
    `| resumed / told to resync / failed | ${int(storm.resumed)} / ${int(storm.resynced)} / ${int(storm.failed)}${failures(storm.failures)} |`,
  );
  lines.push(`| events replayed before the acks | ${int(storm.replayedEvents)} |`);
  lines.push(
    `| sockets that got events before their auth ack (frames) | ${int(storm.earlyEvents.sockets)} (${int(storm.earlyEvents.frames)})${storm.holdPosition ? '; --hold-position: they did not move the position resumed from' : ''} |`,
  );
  lines.push(
    `| deliveries expected / received (live, replayed or over REST) / missing | ${int(storm.final.expected)} / ${int(storm.final.received)} / ${int(storm.final.missing)} ${ok('nothing lost')}${storm.viaRest ? ` (${int(storm.viaRest)} over REST after a resync)` : ''} |`,
  );
  lines.push(`| duplicates | ${int(storm.final.duplicates)} ${ok('nothing duplicated')} |`);
  lines.push(cpuRow('during the storm', storm.cpu, n));
  if (r.mode === 'postgres') {
    lines.push(
      `| database statements during the storm | ${int(storm.statements)} (${(storm.statements / Math.max(1, n)).toFixed(2)} per socket) |`,
    );
  }
  lines.push(`| server resident memory, max during the storm | ${mib(storm.rssMaxBytes)} |`);
  lines.push('');
  const closing = closingLines({
    disturbed: [
      ['connecting', idle.cpu],
      ['the storm', storm.cpu],
    ]
      .filter(([, c]) => c.otherS / Math.max(0.001, c.seconds) > 0.25)
      .map(([step, c]) => `${step} (${((c.otherS / c.seconds) * 100).toFixed(0)} %)`),
    limitPercent: 25,
    rivals: 'the client',
    verdicts,
    kind: 'goal',
    reports: `Full numbers of this run (not committed): \`artifacts/bench/${name}.json\`.`,
  });
  lines.push(...closing.lines);
  return { text: lines.join('\n'), allMet: closing.allMet };
}

let exitCode = 2;
try {
  if (!existsSync('/proc/self/stat')) throw new Error('needs Linux (/proc) to read the server process');
  exitCode = await main();
} catch (err) {
  console.error(`bench:sockets: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
} finally {
  await cleanup();
}
say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(exitCode);
