#!/usr/bin/env node
/**
 * `npm run bench:web`: the web app's message list in headless Chromium.
 *
 * 1. A fresh server on embedded PGlite (a temporary DATA_DIR), `NODE_ENV=production`,
 *    serving the built web app (`npm run build -w @parley/frontend` first). Two users
 *    register over HTTP; one opens a group with the other. The server stops, and 10,000
 *    messages go into the group through the app's own group-commit statement
 *    (`commitSendBatch`, backend/src/messages/send-batch.ts) on the same data directory,
 *    in batches of 500; the outbox rows those sends leave are dropped (history, not news). The server starts
 *    again on that directory.
 * 2. In Chromium (playwright-core, /usr/bin/chromium), the reader of the group, at
 *    1200 × 800, measured in the page with the Performance API:
 *    - cold load: a fresh browser context (empty cache), signed in as the app is (the
 *      refresh cookie from POST /api/auth/login), navigates to the chat; time from the
 *      navigation's start to the first message in view. Three times; the median counts.
 *    - open the chat: from the home page of a loaded app, a click on the chat in the list
 *      until its last message is in view.
 *    - scroll to the top: mouse-wheel turns over the list until seq 1 (the group's line) is in view, the
 *      history pages loading as the list reaches them (50 a page); the time, how many frames
 *      took longer than 50 ms and 100 ms (requestAnimationFrame gaps, and the Long Animation
 *      Frames API's entries), the longest frame.
 *    - JS heap after that (every one of the 10,000 messages has been in the list): the
 *      page's `performance.memory.usedJSHeapSize` after a forced GC (CDP
 *      HeapProfiler.collectGarbage), with --enable-precise-memory-info.
 *
 * Goals: cold load to first message ≤ 1 s, heap ≤ 150 MB, no frame over 100 ms while scrolling.
 * The results replace the `web` section of specs/benchmarks.md. `--quick`: 2,000 messages,
 * one cold load, writes artifacts/bench/web-quick.md only. Every loop has a count and a
 * deadline; the server, the browser and the data directory go at the end, on an error and
 * on Ctrl+C. Exit code: 0 goals met, 1 a goal missed, 2 the benchmark could not run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';
import { fetchJson } from './lib/measure.mjs';
import { machineBusy } from './lib/probe.mjs';
import { launchChromium } from './lib/chromium.mjs';
import { closingLines, commitLabel, machineFacts, runBenchmark, writeSection } from './lib/report.mjs';
import { createCleanups, freePort, root, startServer } from './lib/run-server.mjs';

let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    options: { quick: { type: 'boolean' } },
    strict: true,
  }).values;
} catch (err) {
  console.error(`bench:web: ${err.message}; options: --quick`);
  process.exit(2);
}
const quick = args.quick === true;

register();
const { openDatabase } = await import('../backend/src/infra/db/client.ts');
const { commitSendBatch } = await import('../backend/src/messages/send-batch.ts');

const MESSAGES = quick ? 2_000 : 10_000;
const BATCH = 500;
const COLD_RUNS = quick ? 1 : 3;
const GOALS = { coldMs: 1_000, heapMb: 150, frameMs: 100 };
const VIEWPORT = { width: 1200, height: 800 };
/** Bounds of the scroll to the top: wheel turns and time. */
const SCROLL_MAX_TURNS = 20_000;
const SCROLL_BUDGET_MS = quick ? 2 * 60_000 : 6 * 60_000;
const STEP_TIMEOUT_MS = quick ? 30_000 : 120_000;
const PASSWORD = 'bench-web-password';
/** Production mode wants a real secret: one for both starts of the server on the data directory. */
const JWT_SECRET = randomBytes(32).toString('hex');

const outDir = path.join(root, 'artifacts', 'bench');
const docPath = path.join(root, 'specs', 'benchmarks.md');
const { cleanups, cleanup, scope } = createCleanups();
const started = Date.now();
const say = (line) => console.log(`[bench:web ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => `${Math.round(n).toLocaleString('en-US')} ms`;

const WORDS = `the build deploy review meeting lunch today tomorrow release ticket branch merge
  test flaky server client cache index query page scroll list row message reply thanks sure
  okay later maybe looks good ship it friday monday coffee design draft notes agenda`.split(/\s+/);

/** A message text of 3–40 words, some long enough to wrap, from a fixed sequence. */
function body(n) {
  const words = 3 + ((n * 7919) % 38);
  const out = [`#${n}`];
  for (let i = 0; i < words; i++) out.push(WORDS[(n * 31 + i * 17) % WORDS.length]);
  return out.join(' ');
}

async function startOn(dataDir) {
  const part = scope();
  const server = await startServer({
    port: await freePort(),
    dataDir,
    env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', JWT_SECRET },
    cleanups: part.list,
    startTimeoutMs: 180_000,
  });
  return { ...server, stop: part.close };
}

/** Users and the group over HTTP, then the messages straight into the stopped server's database. */
async function seed(dataDir) {
  const server = await startOn(dataDir);
  const users = {};
  for (const key of ['writer', 'reader']) {
    const username = `bw_${key}`;
    const res = await fetchJson(server.base, 'POST', '/api/auth/register', {
      body: {
        username,
        email: `${username}@bench.invalid`,
        password: PASSWORD,
        displayName: key === 'writer' ? 'Wendy Writer' : 'Reed Reader',
        deviceName: 'bench-web',
        refreshTokenDelivery: 'body',
      },
      expect: 201,
    });
    users[key] = { id: res.user.id, username, token: res.accessToken };
  }
  const group = await fetchJson(server.base, 'POST', '/api/chats/group', {
    body: { name: 'Ten thousand', memberIds: [users.reader.id] },
    token: users.writer.token,
    expect: 201,
  });
  await server.stop();

  const t = performance.now();
  const db = await openDatabase({ kind: 'pglite', dir: path.join(dataDir, 'db') });
  try {
    const batches = Math.ceil(MESSAGES / BATCH);
    const firstDay = Date.now() - (batches + 1) * 86_400_000;
    for (let b = 0; b < batches; b++) {
      const items = [];
      for (let i = b * BATCH; i < Math.min(MESSAGES, (b + 1) * BATCH); i++) {
        items.push({
          messageId: randomUUID(),
          chatId: group.id,
          // Mostly the writer, every fifth message the reader: both sides of the list.
          senderId: i % 5 === 4 ? users.reader.id : users.writer.id,
          clientMsgId: randomUUID(),
          body: body(i + 1),
          replyToId: null,
          priority: 'normal',
          mentions: [],
        });
      }
      const rows = await commitSendBatch(db, items, new Date(firstDay + b * 86_400_000));
      const bad = rows.find((r) => r.status !== 'ok');
      if (bad) throw new Error(`seeding: a send came back ${bad.status}`);
    }
    await db.sql({ text: 'DELETE FROM outbox' }, []);
    // The reader has read everything: the chat opens at its newest message.
    await db.sql({ text: 'UPDATE chat_members SET last_read_seq = $2 WHERE chat_id = $1' }, [
      group.id,
      MESSAGES,
    ]);
  } finally {
    await db.close();
  }
  say(`seeded ${int(MESSAGES)} messages in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return { users, chatId: group.id };
}

/** Records in the page when the first message, and a given seq, come into view; and frame gaps. */
function pageProbe() {
  const w = window;
  w.__bench = { firstMessageAt: null, frames: [], loaf: [], watching: false };
  const inView = (el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight && r.height > 0;
  };
  const look = () => {
    // The first rows in the DOM may be above the view (the list renders a margin around it).
    if (w.__bench.firstMessageAt === null) {
      for (const m of document.querySelectorAll('[data-testid="message"][data-seq]')) {
        if (!inView(m)) continue;
        w.__bench.firstMessageAt = performance.now();
        break;
      }
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
  // Frame gaps while watching (the scroll): requestAnimationFrame deltas.
  let last = null;
  const frame = (now) => {
    if (w.__bench.watching && last !== null) w.__bench.frames.push(now - last);
    last = now;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  try {
    new PerformanceObserver((list) => {
      if (!w.__bench.watching) return;
      for (const e of list.getEntries()) w.__bench.loaf.push(e.duration);
    }).observe({ type: 'long-animation-frame', buffered: false });
  } catch {
    // No Long Animation Frames API: the requestAnimationFrame gaps still count.
  }
}

const seqInView = (page, seq) =>
  page.waitForFunction(
    (s) => {
      const el = document.querySelector(`[data-testid="message"][data-seq="${s}"]`);
      if (!el) return false;
      const r = el.getBoundingClientRect();
      return r.bottom > 0 && r.top < window.innerHeight;
    },
    seq,
    { timeout: STEP_TIMEOUT_MS, polling: 'raf' },
  );

/** A fresh context signed in as the web app is: the refresh cookie of a login. */
async function signedInContext(browser, base, user) {
  const context = await browser.newContext({ baseURL: base, viewport: VIEWPORT });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const res = await context.request.post('/api/auth/login', {
    data: {
      login: user.username,
      password: PASSWORD,
      deviceName: 'bench-web',
      refreshTokenDelivery: 'cookie',
    },
  });
  if (res.status() !== 200) throw new Error(`login: ${res.status()}`);
  if (!(await context.cookies()).some((c) => c.name === 'parley_refresh')) {
    throw new Error('login: the browser context got no refresh cookie');
  }
  await context.addInitScript(pageProbe);
  return context;
}

async function coldLoad(browser, base, user, chatId) {
  const context = await signedInContext(browser, base, user);
  try {
    const page = await context.newPage();
    await page.goto(`/chats/${chatId}`);
    await page
      .waitForFunction(() => window.__bench.firstMessageAt !== null, null, { timeout: STEP_TIMEOUT_MS })
      .catch(async (err) => {
        await page.screenshot({ path: path.join(outDir, 'web-failed.png') });
        say(
          `in the page: ${await page
            .evaluate(async () =>
              JSON.stringify({
                bench: window.__bench ?? null,
                n: document.querySelectorAll('[data-testid="message"][data-seq]').length,
                raf: await new Promise((r) => {
                  requestAnimationFrame(() => r('raf ok'));
                  setTimeout(() => r('no raf in 1 s'), 1000);
                }),
                vis: document.visibilityState,
              }),
            )
            .catch((e) => e.message)}`,
        );
        throw err;
      });
    return await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return {
        firstMessageMs: window.__bench.firstMessageAt,
        domContentLoadedMs: nav?.domContentLoadedEventEnd ?? null,
        transferredKb:
          performance
            .getEntriesByType('resource')
            .concat(nav ? [nav] : [])
            .reduce((a, e) => a + (e.transferSize ?? 0), 0) / 1024,
      };
    });
  } finally {
    await context.close();
  }
}

async function main() {
  if (!existsSync(path.join(root, 'frontend', 'dist', 'index.html'))) {
    console.error('bench:web: build the web app first: npm run build -w @parley/frontend');
    return 2;
  }
  mkdirSync(outDir, { recursive: true });
  const before = { load: loadavg(), busyPercent: await machineBusy(1_000) };
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-web-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const { users, chatId } = await seed(dataDir);
  const server = await startOn(dataDir);
  say(`server up at ${server.base}`);

  const browser = await launchChromium(['--enable-precise-memory-info']);
  cleanups.push(() => browser.close());

  // A first load that is not counted: the server's caches and Chromium's own start-up.
  await coldLoad(browser, server.base, users.reader, chatId);
  const cold = [];
  for (let i = 0; i < COLD_RUNS; i++) cold.push(await coldLoad(browser, server.base, users.reader, chatId));
  const coldSorted = [...cold].sort((a, b) => a.firstMessageMs - b.firstMessageMs);
  const coldMedian = coldSorted[Math.floor(coldSorted.length / 2)];
  say(`cold load to first message: ${cold.map((c) => ms(c.firstMessageMs)).join(', ')}`);

  const context = await signedInContext(browser, server.base, users.reader);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await page.goto('/');
  const item = page.locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"]`);
  await item.waitFor();
  await page.waitForTimeout(500);
  const openStart = await page.evaluate(() => performance.now());
  await item.click();
  // seq 1 is the group's "created" line: the last message is seq MESSAGES + 1.
  await seqInView(page, MESSAGES + 1);
  const openMs = (await page.evaluate(() => performance.now())) - openStart;
  say(`open the chat to its last message: ${ms(openMs)}`);
  const heapAtBottom = await heapMb(page, cdp);
  await page.waitForTimeout(500);

  // Up to the first message with the mouse wheel over the list.
  const list = page.getByTestId('message-list');
  const box = await list.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.evaluate(() => {
    window.__bench.frames = [];
    window.__bench.loaf = [];
    window.__bench.watching = true;
  });
  const scrollStart = Date.now();
  let turns = 0;
  let reached = false;
  while (turns < SCROLL_MAX_TURNS && Date.now() - scrollStart < SCROLL_BUDGET_MS) {
    await page.mouse.wheel(0, -2_000);
    turns += 1;
    // Every few turns: at the top yet? (seq 1, the group's "created" line, in view)
    if (turns % 5 === 0) {
      const at = await page.evaluate(() => {
        const seqs = [...document.querySelectorAll('[data-testid="message"][data-seq]')].map((e) =>
          Number(e.dataset.seq),
        );
        const el = document.querySelector('[data-message-id][data-seq="1"]');
        const r = el?.getBoundingClientRect();
        return { top: Math.min(...seqs), reached: Boolean(r && r.bottom > 0 && r.top < window.innerHeight) };
      });
      reached = at.reached;
      if (reached) break;
      if (turns % 100 === 0) say(`… ${turns} wheel turns, message ${at.top} at the top of the DOM`);
    }
    await page.waitForTimeout(16);
  }
  const scrollMs = Date.now() - scrollStart;
  const scroll = await page.evaluate(() => {
    window.__bench.watching = false;
    return { frames: window.__bench.frames, loaf: window.__bench.loaf };
  });
  if (!reached) throw new Error(`did not reach the first message in ${turns} wheel turns (${ms(scrollMs)})`);
  const frames = scroll.frames;
  const framesOver = (limit) => frames.filter((f) => f > limit).length;
  say(
    `scrolled to the top in ${ms(scrollMs)} (${turns} wheel turns), longest frame ${ms(Math.max(...frames))}`,
  );
  const window_ = await page.evaluate(() => ({
    rows: document.querySelectorAll('[data-testid="message"]').length,
    domNodes: document.getElementsByTagName('*').length,
  }));
  const heapAfter = await heapMb(page, cdp);
  say(`heap after the scroll: ${heapAfter.toFixed(1)} MB (at the bottom ${heapAtBottom.toFixed(1)} MB)`);
  await page.screenshot({ path: path.join(outDir, 'web-top.png') });
  await context.close();

  const report = {
    startedAt: new Date(started).toISOString(),
    quick,
    messages: MESSAGES,
    machine: {
      ...machineFacts(),
      chromium: browser.version(),
      before,
      after: loadavg(),
    },
    cold,
    coldMedian,
    openMs,
    scroll: {
      ms: scrollMs,
      turns,
      frames: frames.length,
      longestFrameMs: Math.max(...frames),
      over50: framesOver(50),
      over100: framesOver(100),
      loafCount: scroll.loaf.length,
      loafOver100: scroll.loaf.filter((d) => d > 100).length,
      loafLongestMs: scroll.loaf.length ? Math.max(...scroll.loaf) : null,
    },
    inDom: window_,
    heapAtBottomMb: heapAtBottom,
    heapAfterMb: heapAfter,
  };
  const name = quick ? 'web-quick' : 'web';
  writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(report, null, 2));
  const { text, allMet } = renderSection(report);
  if (quick) writeFileSync(path.join(outDir, `${name}.md`), `${text}\n`);
  else writeSection(docPath, 'web', text, undefined, { appendUnder: '## Web app: `npm run bench:web`' });
  console.log(`\n${text}\n`);
  return allMet ? 0 : 1;
}

/** The page's JS heap after a full garbage collection, in MB. */
async function heapMb(page, cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  return (await page.evaluate(() => performance.memory.usedJSHeapSize)) / 1024 ** 2;
}

function renderSection(r) {
  const m = r.machine;
  const s = r.scroll;
  const lines = [];
  lines.push(
    `Run on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC · commit ${commitLabel()} · ${m.cpus} × ${m.cpuModel}, ` +
      `${(m.totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB RAM · ${m.platform} · Node ${m.node} · Chromium ${m.chromium} (headless)`,
  );
  lines.push('');
  lines.push(
    `Embedded PGlite, \`NODE_ENV=production\`, the built web app served by the server on loopback; a group of ` +
      `${int(r.messages)} messages (3–40 words each) read at ` +
      `${VIEWPORT.width} × ${VIEWPORT.height}. Before the run the machine was ${m.before.busyPercent.toFixed(0)} % busy ` +
      `(100 = one core), load average ${m.before.load}; after it ${m.after}.`,
  );
  lines.push('');
  lines.push('| | result | goal |');
  lines.push('|---|---|---|');
  const verdicts = [];
  const coldOk = r.coldMedian.firstMessageMs <= GOALS.coldMs;
  verdicts.push({ label: `cold load to first message ≤ ${ms(GOALS.coldMs)}`, ok: coldOk });
  lines.push(
    `| cold load to the first message in view (fresh context, signed in by cookie; median of ${r.cold.length}) | ` +
      `**${ms(r.coldMedian.firstMessageMs)}** (runs: ${r.cold.map((c) => ms(c.firstMessageMs)).join(', ')}; ` +
      `DOMContentLoaded ${ms(r.coldMedian.domContentLoadedMs)}; ${int(r.coldMedian.transferredKb)} KB transferred) | ` +
      `≤ ${ms(GOALS.coldMs)} ${coldOk ? '✅' : '❌'} |`,
  );
  lines.push(`| open the chat from the chat list to its last message in view | **${ms(r.openMs)}** | |`);
  lines.push(
    `| scroll to the top: mouse wheel until the chat's first line is in view, ${int(r.messages / 50)} history pages loading on the way | ` +
      `**${ms(s.ms)}** (${int(s.turns)} wheel turns of 2,000 px) | |`,
  );
  const frameOk = s.over100 === 0 && s.loafOver100 === 0;
  verdicts.push({ label: `no frame over ${ms(GOALS.frameMs)} while scrolling`, ok: frameOk });
  lines.push(
    `| frames while scrolling (requestAnimationFrame gaps) | ${int(s.frames)} frames, longest **${ms(s.longestFrameMs)}**, ` +
      `${s.over50} over 50 ms, **${s.over100} over 100 ms**; Long Animation Frames: ${s.loafCount}` +
      `${s.loafLongestMs === null ? '' : `, longest ${ms(s.loafLongestMs)}, ${s.loafOver100} over 100 ms`} | ` +
      `none over ${ms(GOALS.frameMs)} ${frameOk ? '✅' : '❌'} |`,
  );
  const heapOk = r.heapAfterMb <= GOALS.heapMb;
  verdicts.push({ label: `JS heap ≤ ${GOALS.heapMb} MB`, ok: heapOk });
  lines.push(
    `| JS heap after scrolling through all ${int(r.messages)} (forced GC; at the bottom before: ${r.heapAtBottomMb.toFixed(1)} MB) | ` +
      `**${r.heapAfterMb.toFixed(1)} MB** (${int(r.inDom.rows)} messages and ${int(r.inDom.domNodes)} elements in the DOM) | ` +
      `≤ ${GOALS.heapMb} MB ${heapOk ? '✅' : '❌'} |`,
  );
  lines.push('');
  const closing = closingLines({
    disturbed: m.before.busyPercent > 50 ? [`the start (${m.before.busyPercent.toFixed(0)} %)`] : [],
    limitPercent: 50,
    rivals: 'Chromium',
    verdicts,
    kind: 'goal',
    reports:
      'Full report of this run (not committed): `artifacts/bench/web.json`, and `web-top.png` (the list at the top).',
  });
  lines.push(...closing.lines);
  return { text: lines.join('\n'), allMet: closing.allMet };
}

await runBenchmark('bench:web', main, { budgetMs: 30 * 60_000, cleanup });
