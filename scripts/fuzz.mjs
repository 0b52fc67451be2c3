#!/usr/bin/env node
/**
 * `npm run fuzz`: 100,000 fuzz cases from the contract's zod schemas against a fresh server
 * (embedded PGlite, or PostgreSQL with DATABASE_URL), the same generators and checks as
 * `backend/src/infra/fuzz.test.ts` (backend/test/support/fuzz/): every REST route and every
 * WebSocket command, valid and malformed, as a few signed-in users, as nobody and with
 * forged tokens.
 *
 * Reports answers by status and by code, every 5xx and every answer off the error shape or
 * the contract (with the input that caused it), error lines in the server's log, cases per
 * second, and the server's resident memory (from /proc) after the first batch and at the
 * end. Writes artifacts/fuzz/report.json. The figures for specs/security.md come from here.
 *
 * Options: --runs N (default 100000, or FUZZ_RUNS), --seed N (default 20261111, or
 * FUZZ_SEED), --concurrency N (default 4), --max-minutes M (stop starting batches after M
 * minutes; default 60; the report says so).
 *
 * Exit code: 0 no violation, 1 violations or server errors logged, 2 it could not run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';
import { processRssBytes, serverPid } from './lib/probe.mjs';
import { createCleanups, root, startFreshServer } from './lib/run-server.mjs';

let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      'max-minutes': { type: 'string' },
    },
    strict: true,
  }).values;
} catch (err) {
  console.error(`fuzz: ${err.message}; options: --runs N, --seed N, --concurrency N, --max-minutes M`);
  process.exit(2);
}
const runs = Number(args.runs ?? process.env.FUZZ_RUNS ?? 100_000);
const seed = Number(args.seed ?? process.env.FUZZ_SEED ?? 20_261_111);
const concurrency = Number(args.concurrency ?? 4);
const maxMinutes = Number(args['max-minutes'] ?? 60);
for (const [name, v] of Object.entries({ runs, seed, concurrency, maxMinutes }))
  if (!Number.isFinite(v) || v < 0) {
    console.error(`fuzz: ${name} must be a number`);
    process.exit(2);
  }

// The fuzzer is TypeScript (shared with the jest test), run through tsx.
register();
const { runFuzz, describeViolation } = await import('../backend/test/support/fuzz/runner.ts');
const { FUZZ_SERVER_ENV, FuzzWorld } = await import('../backend/test/support/fuzz/world.ts');

const { cleanup, cleanups } = createCleanups();
const mib = (b) => (b === undefined ? '?' : `${Math.round(b / 2 ** 20)} MiB`);

let exitCode = 2;
try {
  const mode = process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite';
  const server = await startFreshServer({
    name: 'fuzz',
    cleanups,
    env: {
      LOG_LEVEL: 'warn',
      ...FUZZ_SERVER_ENV,
      DIRECT_CHAT_POLICY: 'open',
    },
  });
  const pid = await serverPid(server.pid);
  console.log(
    `fuzz: ${runs} cases, seed ${seed}, concurrency ${concurrency}, against ${mode} at ${server.base}`,
  );
  const world = await FuzzWorld.create(server.base);
  const rssStart = processRssBytes(pid);
  const report = await runFuzz(world, {
    seed,
    runs,
    concurrency,
    batchSize: 250,
    keep: 100,
    memory: () => processRssBytes(pid) ?? 0,
    deadlineMs: maxMinutes * 60_000,
    log: (line) => {
      if (!line.startsWith('batch ') || /batch \d*[02468]9:/.test(line)) console.log(line);
    },
  });
  const rssEnd = processRssBytes(pid);
  // startServer keeps the server's warnings and errors (and anything that is not a log line).
  const serverErrors = server.output.filter((line) => {
    try {
      return JSON.parse(line).level >= 50;
    } catch {
      // Not a log line: the start-up banner, or what a crash prints.
      return /\b(error|exception|unhandled|fatal)\b/i.test(line);
    }
  });
  const perSecond = (report.cases * 1000) / report.durationMs;
  const five = Object.entries(report.byStatus)
    .filter(([s]) => Number(s) >= 500)
    .reduce((n, [, c]) => n + c, 0);
  const lines = [
    '',
    `fuzz: ${mode}, seed ${seed}: ${report.cases} cases (${report.restRequests} REST requests, ${report.wsFrames} WebSocket frames) in ${(report.durationMs / 1000).toFixed(0)} s, ${perSecond.toFixed(0)} cases/s${report.stoppedEarly ? ` (stopped after ${maxMinutes} min)` : ''}`,
    `REST answers by status: ${JSON.stringify(Object.fromEntries(Object.entries(report.byStatus).sort()))}`,
    `answers by code: ${JSON.stringify(Object.fromEntries(Object.entries(report.byCode).sort((a, b) => b[1] - a[1])))}`,
    `5xx: ${five}; violations: ${report.violationCount}; server error lines: ${serverErrors.length}`,
    `server RSS: ${mib(rssStart)} at the start, ${mib(report.memory?.first)} after the first batch, ${mib(rssEnd)} at the end (peak sampled ${mib(report.memory?.peak)})`,
  ];
  console.log(lines.join('\n'));
  for (const v of report.violations) console.log(describeViolation(v, server.base));
  for (const line of serverErrors.slice(0, 20)) console.log(`server: ${line.slice(0, 1000)}`);
  const outDir = path.join(root, 'artifacts', 'fuzz');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    path.join(outDir, 'report.json'),
    JSON.stringify({ mode, rssStart, rssEnd, perSecond, serverErrors, ...report }, null, 2),
  );
  console.log(`report: ${path.relative(root, path.join(outDir, 'report.json'))}`);
  exitCode = report.violationCount > 0 || serverErrors.length > 0 ? 1 : 0;
} catch (err) {
  console.error(`fuzz: could not run: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
  exitCode = 2;
} finally {
  await cleanup();
}
process.exit(exitCode);
